"""Every bad-input case names the file, the line, the column and the key path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from capture_assist.shotlist.loader import (
    ShotListError,
    ShotListProblem,
    load_shotlist,
    parse_shotlist,
)

VALID = textwrap.dedent(
    """\
    version: 1
    project: {id: test_project}
    subjects:
      - id: alice
        consent: {release_id: MR-1, status: unlimited, data_mining: allowed}
      - id: bob
    actions:
      - id: wave
        labels: [gesture/wave]
        expected_duration_s: 3
        beats: [{name: raise}, {name: wave}, {name: lower}]
    angles:
      - {id: front, height_m: 1.5, distance_m: 2.5}
    lighting:
      - {id: day, cct_k: 5600}
    repetitions: 2
    cameras:
      - id: cam_a
        source: {kind: sim}
        angles: [front]
        records: {resolution: [1280, 720]}
    naming: "{subject}/{action}/{take_id}_{camera}"
    """
)


def problems_of(text: str) -> list[ShotListProblem]:
    with pytest.raises(ShotListError) as caught:
        parse_shotlist(text, "list.yaml")
    return list(caught.value.problems)


def line_of(text: str, fragment: str, occurrence: int = 1) -> int:
    lines = [i for i, line in enumerate(text.splitlines(), 1) if fragment in line]
    return lines[occurrence - 1]


def only(problems: list[ShotListProblem]) -> ShotListProblem:
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


def test_valid_list_parses() -> None:
    shotlist = parse_shotlist(VALID, "list.yaml")
    assert [s.id for s in shotlist.subjects] == ["alice", "bob"]
    assert shotlist.qc.white_balance_mired.fail == 10.0  # default tolerance


def test_yaml_syntax_error_names_line_and_column() -> None:
    text = VALID.replace("angles: [front]", "angles: [front")
    problem = only(problems_of(text))
    assert problem.file == "list.yaml"
    assert "YAML syntax error" in problem.message
    assert problem.line >= line_of(text, "angles: [front")
    assert str(problem).startswith(f"list.yaml:{problem.line}:{problem.column}:")


def test_bad_indentation_is_a_syntax_error() -> None:
    text = VALID.replace("    labels: [gesture/wave]", "   labels: [gesture/wave]")
    problem = only(problems_of(text))
    assert "YAML syntax error" in problem.message
    assert problem.line == line_of(text, "labels: [gesture/wave]")


def test_duplicate_yaml_key() -> None:
    text = VALID.replace("repetitions: 2", "repetitions: 2\nrepetitions: 3")
    problem = only(problems_of(text))
    assert "duplicate key" in problem.message
    assert problem.line == line_of(text, "repetitions: 3")


def test_unknown_key_suggests_the_right_one() -> None:
    text = VALID.replace("  - id: bob", "  - id: bob\n    descriptin: tall")
    problem = only(problems_of(text))
    assert problem.line == line_of(text, "descriptin")
    assert problem.column == 5
    assert problem.key_path == "subjects[1](id=bob).descriptin"
    assert "unknown key 'descriptin'" in problem.message
    assert "did you mean 'description'" in problem.message


def test_wrong_type_names_the_value_and_key() -> None:
    text = VALID.replace("cct_k: 5600", "cct_k: warm")
    problem = only(problems_of(text))
    assert problem.line == line_of(text, "cct_k: warm")
    assert problem.key_path == "lighting[0](id=day).cct_k"
    assert "'warm'" in problem.message


def test_missing_required_key() -> None:
    text = VALID.replace("    records: {resolution: [1280, 720]}\n", "")
    problem = only(problems_of(text))
    assert problem.key_path == "cameras[0](id=cam_a).records"
    assert "missing required key 'records'" in problem.message
    assert problem.line == line_of(text, "- id: cam_a")


@pytest.mark.parametrize(
    ("section", "original", "duplicate"),
    [
        ("subjects", "  - id: bob", "  - id: alice"),
        ("cameras", "  - id: cam_a", None),
    ],
)
def test_duplicate_ids(section: str, original: str, duplicate: str | None) -> None:
    if duplicate is None:
        camera = "  - id: cam_a\n    source: {kind: sim}\n    angles: [front]\n    records: {resolution: [1280, 720]}\n"
        text = VALID.replace("naming:", camera + "naming:")
        occurrence = 2
        fragment = "- id: cam_a"
    else:
        text = VALID.replace(original, duplicate)
        occurrence = 2
        fragment = duplicate.strip()
    problems = problems_of(text)
    problem = next(p for p in problems if "duplicate id" in p.message)
    assert problem.line == line_of(text, fragment, occurrence)
    assert problem.key_path.startswith(section) and problem.key_path.endswith(".id")


def test_reference_to_an_undefined_angle() -> None:
    text = VALID.replace("angles: [front]", "angles: [frontal]")
    problems = problems_of(text)
    problem = next(p for p in problems if "unknown angle" in p.message)
    assert problem.line == line_of(text, "angles: [frontal]")
    assert problem.key_path == "cameras[0](id=cam_a).angles[0]"
    assert "'frontal'" in problem.message and "front" in problem.message


def test_skip_rule_with_an_undefined_subject() -> None:
    text = VALID.replace("naming:", "skip:\n  - {subject: carol, action: wave}\nnaming:")
    problem = only(problems_of(text))
    assert problem.line == line_of(text, "subject: carol")
    assert problem.key_path == "skip[0].subject"
    assert "unknown subject 'carol'" in problem.message


@pytest.mark.parametrize(
    ("bad_id", "yaml_value", "needle"),
    [
        ("a/b", '"a/b"', "'/'"),
        ("..", '".."', "'..'"),
        ("two words", '"two words"', "a space"),
        ("tab\there", '"tab\\there"', "'\\t'"),
        ("bell\x07", '"bell\\a"', "'\\x07'"),
    ],
)
def test_ids_unsafe_as_file_names(bad_id: str, yaml_value: str, needle: str) -> None:
    text = VALID.replace("  - id: bob", f"  - id: {yaml_value}")
    problems = problems_of(text)
    problem = next(p for p in problems if p.key_path.startswith("subjects[1]"))
    assert problem.line == line_of(text, f"id: {yaml_value}")
    assert problem.key_path.endswith(".id")
    assert needle in problem.message


def test_empty_axis() -> None:
    text = VALID.replace("lighting:\n  - {id: day, cct_k: 5600}", "lighting: []")
    problems = problems_of(text)
    problem = next(p for p in problems if p.key_path == "lighting")
    assert problem.line == line_of(text, "lighting: []")
    assert "is empty" in problem.message


def test_naming_template_that_collides() -> None:
    text = VALID.replace(
        'naming: "{subject}/{action}/{take_id}_{camera}"', 'naming: "{action}/{camera}"'
    )
    problem = only(problems_of(text))
    assert problem.line == line_of(text, "naming:")
    assert problem.key_path == "naming"
    assert "same path" in problem.message
    assert "{subject}" in problem.message and "{repetition}" in problem.message


def test_naming_template_that_collides_only_by_letter_case() -> None:
    text = VALID.replace("  - id: bob", "  - id: ALICE").replace(
        'naming: "{subject}/{action}/{take_id}_{camera}"',
        'naming: "{subject}/{action}/r{repetition}"',
    )
    problem = only(problems_of(text))
    assert "same path" in problem.message
    assert "alice" in problem.message.lower()


def test_naming_template_with_unknown_placeholder() -> None:
    text = VALID.replace("{take_id}_{camera}", "{take}_{camera}")
    problem = only(problems_of(text))
    assert problem.key_path == "naming"
    assert "unknown placeholder {take}" in problem.message


def test_order_missing_an_axis() -> None:
    text = VALID.replace("naming:", "order: [lighting, angle, subject, action]\nnaming:")
    problem = only(problems_of(text))
    assert problem.line == line_of(text, "order:")
    assert "missing: repetition" in problem.message


def test_gphoto2_source_without_a_way_to_find_it() -> None:
    text = VALID.replace("source: {kind: sim}", "source: {kind: gphoto2}")
    problem = only(problems_of(text))
    assert problem.line == line_of(text, "kind: gphoto2")
    assert "serial, port or model" in problem.message
    assert problem.key_path.startswith("cameras[0](id=cam_a).source")


def test_unknown_source_kind() -> None:
    text = VALID.replace("source: {kind: sim}", "source: {kind: webcam}")
    problem = only(problems_of(text))
    assert problem.line == line_of(text, "kind: webcam")
    assert "webcam" in problem.message


def test_every_problem_is_reported_not_just_the_first() -> None:
    text = (
        VALID.replace("cct_k: 5600", "cct_k: warm")
        .replace("repetitions: 2", "repetitons: 2")
        .replace("expected_duration_s: 3", "expected_duration_s: -1")
    )
    problems = problems_of(text)
    lines = {p.line for p in problems}
    assert {
        line_of(text, "cct_k: warm"),
        line_of(text, "repetitons"),
        line_of(text, "expected_duration_s: -1"),
    } <= lines


def test_empty_file_and_list_document() -> None:
    assert "expected a mapping" in only(problems_of("")).message
    assert "expected a mapping" in only(problems_of("- a\n- b\n")).message


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ShotListError) as caught:
        load_shotlist(tmp_path / "missing.yaml")
    assert "cannot read the file" in str(caught.value)


def test_shipped_examples_pass(demo_shotlist_path: Path) -> None:
    for path in sorted(demo_shotlist_path.parent.glob("*.yaml")):
        loaded = load_shotlist(path)
        assert len(loaded.sha256) == 64


def test_the_documented_example_is_valid() -> None:
    document = (Path(__file__).resolve().parents[2] / "docs" / "shotlist.md").read_text()
    example = document.split("```yaml\n", 1)[1].split("```", 1)[0]
    shotlist = parse_shotlist(example, "docs/shotlist.md")
    assert {axis.value for axis in shotlist.order} == {
        "subject",
        "action",
        "angle",
        "lighting",
        "repetition",
    }
    assert shotlist.cameras[1].source.kind == "gphoto2"
