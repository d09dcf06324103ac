"""The session report: real plots of a session with injected problems, rendered by Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from delivery_helpers import REPO_ROOT, shoot_session_with_problems
from PIL import Image

from capture_assist.cli import main
from capture_assist.storage.report import beat_timings, fix_list, render_report
from capture_assist.storage.session_files import read_session


@pytest.fixture(scope="module")
def problem_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("problems")
    return shoot_session_with_problems(REPO_ROOT / "shotlists" / "demo.yaml", folder / "session")


def test_fix_list_names_every_injected_problem(problem_session: Path) -> None:
    record = read_session(problem_session)
    fixes = fix_list(record, beat_timings(record))
    text = "\n".join(f"{f.severity} {f.step_id} {f.what}" for f in fixes)
    takes = [step.step_id for step in record.takes]
    assert f"ng {takes[1]} rated NG: reshoot it (actor looked at the lens)" in text
    for unshot in takes[-2:]:
        assert f"fail {unshot} not shot yet" in text
    assert re.search(r"cam_b: exposure ev [-+]0\.\d+", text)
    assert re.search(r"cam_a: white balance mired", text)
    assert re.search(r"cam_a: framing drift px", text)
    assert re.search(r"cam_b: sharpness drop percent", text)
    assert "across takes" in text  # the slowing actor's beats spread
    assert [f.severity for f in fixes] == sorted(
        (f.severity for f in fixes), key=("fail", "ng", "warn").index
    )


def test_report_is_self_contained_with_every_section(problem_session: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert main(["report", str(problem_session), "--out", str(out)]) == 0
    page = out.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", page)
    for heading in (
        "What to fix or reshoot",
        "Coverage",
        "QC over the takes",
        "Beat timing per action",
        "Camera settings per setup",
        "Takes",
    ):
        assert f"<h2>{heading}</h2>" in page
    record = read_session(problem_session)
    assert page.count('class="cell ng"') >= 2  # the NG take in the matrix and the legend
    assert page.count("data:image/png;base64,") == 2  # QC plot and beat plot
    shot = sum(len(step.files) for step in record.takes if step.is_done)
    assert page.count("data:image/jpeg;base64,") == shot


@pytest.mark.slow
def test_chromium_renders_the_report(problem_session: Path, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is not installed: run scripts/setup.sh"
    page = tmp_path / "report.html"
    page.write_text(render_report(read_session(problem_session)))
    png = tmp_path / "report.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1400,1800",
            f"--screenshot={png}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    with Image.open(png) as image:
        assert image.size == (1400, 1800)
        pixels = image.convert("RGB").resize((140, 180))
        colours = pixels.getcolors(140 * 180) or []
    # Dark page: the background dominates; and real content: many distinct colours.
    dominant = max(colours)[1]
    assert sum(dominant) < 3 * 40
    assert len(colours) > 200


def test_thumbnails_show_problem_takes_first_and_stay_bounded(
    problem_session: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from capture_assist.storage import report

    monkeypatch.setattr(report, "MAX_THUMBNAIL_TAKES", 3)
    page = render_report(read_session(problem_session))
    takes = page[page.index("<h2>Takes</h2>") :]
    assert takes.count("<figure") == 3
    assert takes.count('class="thumb fail"') == 3  # the failed takes outrank the rest
    done = sum(1 for step in read_session(problem_session).takes if step.is_done)
    assert f"{done - 3} more takes are not shown" in takes


def test_a_take_without_a_decodable_picture_is_reported_not_fatal(
    session_copy: Path,
) -> None:
    from delivery_helpers import turn_takes_into_clips

    turn_takes_into_clips(session_copy)
    page = render_report(read_session(session_copy))
    assert "front: no preview" in page and "side: no preview" in page
