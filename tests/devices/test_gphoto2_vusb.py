"""libgphoto2's own virtual camera (vusb): discovered, opened, captured, downloaded, verified.

Setting VCAMERADIR replaces libgphoto2's port drivers for the whole process, so
every test here runs the command line in a subprocess.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from session_checks import check_done_steps_are_whole

from capture_assist.devices.simulated import SceneControls, SimulatedCamera

pytestmark = pytest.mark.slow


@pytest.fixture
def virtual_camera(tmp_path: Path) -> dict[str, str]:
    """A folder of JPEGs the virtual camera serves, and the environment that selects it."""
    folder = tmp_path / "vcamera"
    folder.mkdir()
    SimulatedCamera("vc", controls=SceneControls(cast_cct_k=4300)).capture_still(
        folder / "DSC_0001.jpg"
    )
    return {
        **os.environ,
        "VCAMERADIR": str(folder),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
    }


def run_cli(environment: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "capture_assist.cli", *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cameras_lists_the_virtual_camera_with_its_serial(virtual_camera: dict[str, str]) -> None:
    result = run_cli(virtual_camera, "cameras", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {"model": "Nikon DSC D750", "port": "usb:001,001", "serial": "0.1"}
    ]
    table = run_cli(virtual_camera, "cameras").stdout
    assert "Nikon DSC D750" in table and "usb:001,001" in table and "0.1" in table


def test_headless_run_through_the_virtual_camera_is_byte_exact(
    virtual_camera: dict[str, str], small_shotlist_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "session"
    result = run_cli(
        virtual_camera,
        "run",
        str(small_shotlist_path),
        "--out",
        str(out),
        "--no-progress",
        "--camera",
        "cam_a=gphoto2:serial=0.1",
    )
    assert result.returncode == 0, result.stderr
    assert check_done_steps_are_whole(out, cameras=2) == 8
    source = hashlib.sha256(
        (Path(virtual_camera["VCAMERADIR"]) / "DSC_0001.jpg").read_bytes()
    ).hexdigest()
    downloads = sorted(out.rglob("*_cam_a.jpg"))
    assert len(downloads) == 8
    for path in downloads:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == source, path
    sidecar = json.loads(downloads[0].with_suffix(".json").read_text())
    assert sidecar["camera"]["source_kind"] == "gphoto2"
    assert sidecar["camera"]["identity"]["serial"] == "0.1"
    assert sidecar["camera"]["settings"]["aperture_f"] == 2.8
    assert "shutterspeed" in sidecar["camera"]["settings"]["all"]


def test_a_camera_that_is_not_there_is_reported_in_plain_words(
    virtual_camera: dict[str, str], small_shotlist_path: Path, tmp_path: Path
) -> None:
    result = run_cli(
        virtual_camera,
        "run",
        str(small_shotlist_path),
        "--out",
        str(tmp_path / "s"),
        "--no-progress",
        "--camera",
        "cam_a=gphoto2:serial=NOPE",
    )
    assert result.returncode == 3
    assert (
        "camera cam_a (NOPE) is not connected; found: Nikon DSC D750 (0.1) on usb:001,001"
        in result.stderr
    )
    assert "--resume" in result.stderr
