from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from capture_assist.cli import main
from capture_assist.devices.simulated import SceneControls, SimulatedCamera


def test_analyze_a_still_with_a_cast(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    camera = SimulatedCamera(
        "cam", width=1920, height=1080, controls=SceneControls(cast_cct_k=4800, noise_sigma=1.5)
    )
    still = camera.capture_still(tmp_path / "still.jpg")
    assert main(["analyze", str(still.path), "--json", "--target-k", "5600"]) == 0
    result = json.loads(capsys.readouterr().out)
    chart = result["chart"]
    assert abs(1e6 / chart["cct_k"] - 1e6 / 4800) < 2.0
    # A camera balanced for 5600 K whose chart reads 4800 K sees light warmer than the target.
    assert chart["white_balance_error_mired"] == pytest.approx(1e6 / 4800 - 1e6 / 6504, abs=2.0)
    assert len(chart["delta_e_per_patch"]) == 24 and len(chart["corners"]) == 4
    assert main(["analyze", str(still.path)]) == 0
    assert "ColorChecker at" in capsys.readouterr().out


def test_analyze_a_clip_reports_motion_and_the_bump(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    camera = SimulatedCamera(
        "cam",
        width=640,
        height=360,
        controls=SceneControls(noise_sigma=1.0, bump_times_s=(1.0,), bump_offset_px=(5.0, 3.0)),
    )
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (640, 360))
    for index in range(50):
        writer.write(np.ascontiguousarray(camera.render(index / 25)[:, :, ::-1]))
    writer.release()
    assert main(["analyze", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["frames"]) == 50
    assert result["bumps"] == 1
    bumped = [row["frame"] for row in result["frames"] if row["bump"]]
    assert bumped == [25]
    last = result["frames"][-1]["drift"]
    assert last["dx_px"] == pytest.approx(5.0, abs=0.2) and last["dy_px"] == pytest.approx(
        3.0, abs=0.2
    )
    assert result["first_frame"]["chart"] is not None


def test_unreadable_files_fail_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(tmp_path / "missing.jpg")]) == 2
    assert "no such file" in capsys.readouterr().err
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    assert main(["analyze", str(broken)]) == 2
    assert "not a video" in capsys.readouterr().err
