from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from capture_assist.shotlist.loader import load_shotlist, parse_shotlist
from capture_assist.shotlist.matrix import expand
from capture_assist.shotlist.naming import render_relative_path
from capture_assist.shotlist.summary import summarise

BASE = """\
version: 1
project: {id: p}
subjects: [{id: s1}, {id: s2}]
actions:
  - {id: a1, expected_duration_s: 4}
  - {id: a2, expected_duration_s: 6}
angles: [{id: front}, {id: side}, {id: top}, {id: three_quarter}]
lighting: [{id: day, cct_k: 5600}, {id: tungsten, cct_k: 3200}]
repetitions: 2
cameras:
  - {id: cam_a, angles: [front, three_quarter], records: {resolution: [640, 360]}}
  - {id: cam_b, angles: [side, top], records: {resolution: [640, 360]}}
ORDER
SKIP
"""


def build(order: str = "", skip: str = "", subjects: str = "", actions: str = "") -> str:
    text = BASE.replace("ORDER", order).replace("SKIP", skip)
    if subjects:
        text = text.replace("subjects: [{id: s1}, {id: s2}]", f"subjects: [{subjects}]")
    if actions:
        text = text.replace("  - {id: a2, expected_duration_s: 6}", actions)
    return text


def test_counts_and_placements() -> None:
    matrix = expand(parse_shotlist(build()))
    # 2 subjects x 2 actions x 2 placements x 2 lights x 2 reps
    assert len(matrix.takes) == 32
    assert [s.setup_id for s in matrix.setups] == [
        "day.front+side",
        "day.three_quarter+top",
        "tungsten.front+side",
        "tungsten.three_quarter+top",
    ]
    first = matrix.takes[0]
    assert first.take_id == "s1.a1.front+side.day.r01"
    assert [(f.camera_id, f.angle_id) for f in first.files] == [
        ("cam_a", "front"),
        ("cam_b", "side"),
    ]
    assert [t.index for t in matrix.takes] == list(range(32))


def test_order_is_followed_and_subject_outermost_revisits_setups() -> None:
    matrix = expand(
        parse_shotlist(build(order="order: [subject, lighting, angle, action, repetition]"))
    )
    assert [s.setup_id for s in matrix.setups][:4] == [
        "s1.day.front+side",
        "s1.day.three_quarter+top",
        "s1.tungsten.front+side",
        "s1.tungsten.three_quarter+top",
    ]
    assert len(matrix.setups) == 8
    assert len({s.reference_id for s in matrix.setups}) == 8
    takes = matrix.setups[0].takes
    assert [(t.action, t.repetition) for t in takes] == [("a1", 1), ("a1", 2), ("a2", 1), ("a2", 2)]


def test_skip_rules() -> None:
    text = build(skip="skip:\n  - {angle: top, action: a2}\n  - {subject: s2, repetition: 2}")
    matrix = expand(parse_shotlist(text))
    for take in matrix.takes:
        assert not (take.action == "a2" and "top" in take.placement.angle_ids)
        assert not (take.subject == "s2" and take.repetition == 2)
    # a2 in the second placement: 2 subj x 2 light x 2 reps = 8; s2 rep 2 elsewhere: 2 light x (2+1) = 6
    assert matrix.skipped == 8 + 6
    assert len(matrix.takes) == 32 - 14


@pytest.mark.parametrize(
    "order",
    [
        "",
        "order: [subject, action, angle, lighting, repetition]",
        "order: [repetition, subject, lighting, angle, action]",
    ],
)
def test_take_ids_are_stable_when_subjects_or_actions_are_added(order: str) -> None:
    before = expand(parse_shotlist(build(order=order)))
    grown = expand(
        parse_shotlist(
            build(
                order=order,
                subjects="{id: s0}, {id: s1}, {id: s1b}, {id: s2}, {id: s3}",
                actions="  - {id: a0, expected_duration_s: 2}\n  - {id: a2, expected_duration_s: 6}\n  - {id: a3, expected_duration_s: 1}",
            )
        )
    )
    again = expand(parse_shotlist(build(order=order)))
    assert [t.take_id for t in before.takes] == [t.take_id for t in again.takes]
    grown_by_id = grown.by_id
    for take in before.takes:
        assert take.take_id in grown_by_id
        assert grown_by_id[take.take_id].setup_id.split(".")[-2:] == take.setup_id.split(".")[-2:]
        assert grown_by_id[take.take_id].labels() == take.labels()


def test_fixed_camera_stays_while_others_move() -> None:
    text = build().replace(
        "  - {id: cam_b, angles: [side, top], records: {resolution: [640, 360]}}",
        "  - {id: cam_b, angles: [side, top], records: {resolution: [640, 360]}}\n"
        "  - {id: overhead, angles: [top], records: {resolution: [640, 360]}}",
    )
    matrix = expand(parse_shotlist(text))
    placements = {s.placement.id: s.placement.camera_angles for s in matrix.setups}
    assert placements["front+side+top"] == (
        ("cam_a", "front"),
        ("cam_b", "side"),
        ("overhead", "top"),
    )
    assert placements["three_quarter+top"] == (
        ("cam_a", "three_quarter"),
        ("cam_b", "top"),
        ("overhead", "top"),
    )


def test_attempt_suffix() -> None:
    assert (
        render_relative_path("{subject}/{take_id}", {"subject": "s", "take_id": "t", "attempt": 1})
        == "s/t"
    )
    assert (
        render_relative_path("{subject}/{take_id}", {"subject": "s", "take_id": "t", "attempt": 3})
        == "s/t_a03"
    )
    assert render_relative_path("{take_id}_{attempt}", {"take_id": "t", "attempt": "02"}) == "t_02"


def test_summary_arithmetic(demo_shotlist_path: Path) -> None:
    loaded = load_shotlist(demo_shotlist_path)
    matrix = expand(loaded.model)
    summary = summarise(loaded.model, matrix)
    assert (summary.setups, summary.takes, summary.skipped_takes) == (2, 12, 4)
    # per lighting: s01 pick_up_glass (3 s) x2, s01 wave (2 s) x2, s02 pick_up_glass x2
    action_time = 2 * (3 * 2 + 2 * 2 + 3 * 2)
    timing = loaded.model.timing
    expected = (
        action_time
        + 12 * timing.take_overhead_s
        + 2 * timing.reference_frame_s
        + 1 * timing.setup_change_s
    )
    assert summary.estimated_shooting_s == pytest.approx(expected)
    assert dict(summary.files_per_camera) == {"cam_a": 12, "cam_b": 12}


def test_every_file_path_is_unique_in_the_realistic_example(demo_shotlist_path: Path) -> None:
    loaded = load_shotlist(demo_shotlist_path.parent / "kitchen_full.yaml")
    matrix = expand(loaded.model)
    paths = [
        take.relative_path(loaded.model.naming, loaded.model.project.id, f.camera_id, f.angle_id)
        for take in matrix.takes
        for f in take.files
    ]
    assert len(paths) == len(set(paths)) == 2 * len(matrix.takes)
    assert len(matrix.takes) == 264
    assert all(".." not in p and not p.startswith("/") for p in itertools.islice(paths, 50))
