"""Export read back by the real readers: datasets, ascmhl, opentimelineio, the ALE adapter."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import threading
from pathlib import Path

import opentimelineio as otio
import pytest
import xxhash
from delivery_helpers import (
    ascmhl_debug,
    fatten_session,
    flip_one_byte,
    mark_all_beats,
    turn_takes_into_clips,
)

from capture_assist.cli import main
from capture_assist.session.database import Rating, SessionDatabase
from capture_assist.storage.export import (
    ALE_PATH,
    COCO_PATH,
    OTIO_PATH,
    bytes_to_read,
    export_session,
)
from capture_assist.storage.session_files import read_session


def verify(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ascmhl_debug(), "verify", str(root)], capture_output=True, text=True)


def assert_verified_files_are_true(root: Path, verified: tuple[str, ...], session: Path) -> None:
    """Nothing reported verified that is not there with the bytes it should have."""
    for path in verified:
        assert (root / path).is_file(), f"{path} reported verified but absent"
    record = read_session(session)
    for step in record.steps:
        for stored in step.files:
            for candidate in verified:
                if candidate.endswith("/" + stored.relative_path.split("/")[-1]):
                    delivered = xxhash.xxh3_128_hexdigest((root / candidate).read_bytes())
                    source = xxhash.xxh3_128_hexdigest(
                        (session / stored.relative_path).read_bytes()
                    )
                    assert delivered == source, f"{candidate} differs from its source"


@pytest.mark.slow
def test_datasets_loads_every_take_angle_and_column(session_copy: Path, tmp_path: Path) -> None:
    import datasets

    record = read_session(session_copy)
    mark_all_beats(session_copy, record.takes[0].step_id)
    result = export_session(session_copy, [tmp_path / "out"])
    assert result.ok
    loaded = datasets.load_dataset(
        "imagefolder", data_dir=str(tmp_path / "out"), cache_dir=str(tmp_path / "cache")
    )["train"]

    rows = [
        json.loads(line)
        for line in (tmp_path / "out/train/metadata.jsonl").read_text().splitlines()
    ]
    assert loaded.num_rows == len(record.takes) == len(rows)
    assert {"front", "side"} <= set(loaded.column_names)
    for column in rows[0]:
        if not column.endswith("_file_name"):
            assert column in loaded.column_names, column
    first = loaded[0]
    assert first["front"].size == (1280, 720) and first["side"].size == (1280, 720)
    assert first["take_id"] == record.takes[0].step_id
    assert first["labels"] == ["interaction/grasp/glass", "object/glass"]
    assert first["consent_data_mining"] == "allowed"
    assert [beat["name"] for beat in first["beats"]] == ["reach", "grasp", "lift", "place"]
    assert first["beats"][1]["marked_s"] == pytest.approx(0.9, abs=1e-3)
    assert first["front_qc_verdict"] in ("pass", "warn", "fail")
    assert first["front_qc_exposure_ev"] is not None

    with open(tmp_path / "out/manifests/metadata.csv", newline="") as handle:
        csv_rows = list(csv.DictReader(handle))
    assert [row["take_id"] for row in csv_rows] == [row["take_id"] for row in rows]
    assert list(csv_rows[0]) == list(rows[0])
    assert json.loads(csv_rows[0]["beats"]) == rows[0]["beats"]


@pytest.mark.slow
def test_datasets_videofolder_loads_a_session_of_clips(session_copy: Path, tmp_path: Path) -> None:
    import datasets

    turn_takes_into_clips(session_copy)
    result = export_session(session_copy, [tmp_path / "out"])
    assert result.ok, result
    loaded = datasets.load_dataset(
        "videofolder", data_dir=str(tmp_path / "out"), cache_dir=str(tmp_path / "cache")
    )["train"]
    assert loaded.num_rows == len(result.takes)
    assert isinstance(loaded.features["front"], datasets.Video)
    assert isinstance(loaded.features["side"], datasets.Video)
    # Decoding frames needs torchcodec (PyTorch); the paths are what the builder resolved.
    undecoded = loaded.cast_column("front", datasets.Video(decode=False)).cast_column(
        "side", datasets.Video(decode=False)
    )
    for row in undecoded:
        for angle in ("front", "side"):
            path = Path(row[angle]["path"])
            assert path.suffix == ".mp4" and path.is_file()
            assert path.parent.name == row["action"]
    assert undecoded[0]["take_id"] == result.takes[0]


@pytest.mark.slow
def test_ascmhl_verifies_both_copies_and_catches_one_flipped_byte(
    session_copy: Path, tmp_path: Path
) -> None:
    result = export_session(session_copy, [tmp_path / "a", tmp_path / "b"])
    assert result.ok, result
    for destination in result.destinations:
        check = verify(destination.root)
        assert check.returncode == 0, check.stdout + check.stderr
        assert_verified_files_are_true(destination.root, destination.verified, session_copy)
    flipped = next((tmp_path / "b" / "train").rglob("*.jpg"))
    flip_one_byte(flipped)
    check = verify(tmp_path / "b")
    assert check.returncode != 0
    assert flipped.name in check.stdout + check.stderr
    assert verify(tmp_path / "a").returncode == 0


def test_export_command_fills_both_destinations(
    session_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["export", str(session_copy), "--to", str(a), "--backup", str(b)]) == 0
    captured = capsys.readouterr()
    record = read_session(session_copy)
    assert (
        f"{len(record.takes)} takes and {len(record.references)} reference frames" in captured.out
    )
    assert f"{a}: complete" in captured.out and f"{b}: complete" in captured.out
    # The bar ends exactly at its total: every byte read was counted, none twice.
    assert re.search(r"100%\|[^|]*\| (\S+)/\1 ", captured.err), captured.err
    assert bytes_to_read(record) > sum(f.size_bytes for step in record.steps for f in step.files)
    assert sorted(p.relative_to(a) for p in a.rglob("*") if "ascmhl" not in p.parts) == sorted(
        p.relative_to(b) for p in b.rglob("*") if "ascmhl" not in p.parts
    )


def test_timeline_and_ale_read_back(session_copy: Path, tmp_path: Path) -> None:
    record = read_session(session_copy)
    marked = record.takes[1].step_id
    names = mark_all_beats(session_copy, marked)
    result = export_session(session_copy, [tmp_path / "out"])
    assert result.ok

    timeline = otio.adapters.read_from_file(str(tmp_path / "out" / OTIO_PATH))
    assert [track.name for track in timeline.tracks] == ["front", "side"]
    for track in timeline.tracks:
        clips = list(track.find_clips())
        assert [c.metadata["capture_assist"]["take_id"] for c in clips] == list(result.takes)
        assert all(c.metadata["capture_assist"]["angle"] == track.name for c in clips)
        beat_clip = clips[1]
        assert [m.name for m in beat_clip.markers] == names
        start = beat_clip.source_range.start_time
        assert (beat_clip.markers[1].marked_range.start_time - start).to_seconds() == pytest.approx(
            0.9, abs=0.04
        )
        assert all(not c.markers for i, c in enumerate(clips) if i != 1)
        assert beat_clip.media_reference.target_url.startswith("../train/")
    assert timeline.tracks[0].duration() == timeline.tracks[1].duration()

    ale = otio.adapters.read_from_file(str(tmp_path / "out" / ALE_PATH))
    ale_clips = list(ale.find_clips())
    assert len(ale_clips) == 2 * len(result.takes)
    columns = ale_clips[0].metadata["ALE"]
    assert columns["Camera"] == "cam_a" and columns["Angle"] == "front"
    assert columns["Scene"] == record.takes[0].setup_id


def test_coco_has_the_chart_of_every_reference_frame(session_copy: Path, tmp_path: Path) -> None:
    result = export_session(session_copy, [tmp_path / "out"])
    coco = json.loads((tmp_path / "out" / COCO_PATH).read_text())
    assert len(coco["images"]) == 2 * len(result.references)
    assert len(coco["annotations"]) == len(coco["images"])
    for annotation in coco["annotations"]:
        image = coco["images"][annotation["image_id"] - 1]
        assert (tmp_path / "out" / image["file_name"]).is_file()
        x, y, w, h = annotation["bbox"]
        assert 0 <= x and 0 <= y and x + w <= image["width"] and y + h <= image["height"]
        assert 0.5 * w * h < annotation["area"] <= w * h + 1e-6


def test_ng_takes_only_on_request(session_copy: Path, tmp_path: Path) -> None:
    record = read_session(session_copy)
    ng = record.takes[0].step_id
    with SessionDatabase(session_copy / "session.sqlite") as database:
        database.set_rating(ng, Rating.NG)
    without = export_session(session_copy, [tmp_path / "without"])
    assert ng not in without.takes and any(e.step_id == ng for e in without.excluded)
    assert not list((tmp_path / "without").rglob(f"{ng}_*"))
    with_ng = export_session(session_copy, [tmp_path / "with"], include_ng=True)
    assert ng in with_ng.takes
    assert len(list((tmp_path / "with").rglob(f"{ng}_*"))) == 6  # 2 angles x media, json, xmp


def test_a_source_changed_after_capture_is_refused(
    session_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = read_session(session_copy)
    victim = record.takes[2]
    flip_one_byte(session_copy / victim.files[1].relative_path)
    code = main(["export", str(session_copy), "--to", str(tmp_path / "out"), "--no-progress"])
    assert code == 3
    err = capsys.readouterr().err
    assert f"REFUSED {victim.step_id}" in err and "changed since it was captured" in err
    # The take is left out whole: no angle of it is delivered, the others are.
    assert not list((tmp_path / "out").rglob(f"{victim.step_id}_*"))
    rows = (tmp_path / "out/train/metadata.jsonl").read_text()
    assert victim.step_id not in rows and record.takes[0].step_id in rows
    assert verify(tmp_path / "out").returncode == 0


def mount_tmpfs(mount: Path, size: str) -> None:
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {made.stderr.decode().strip()}")


@pytest.fixture
def small_tmpfs(tmp_path: Path):
    """A 600 KiB filesystem: the session's media (about 1.3 MB) cannot fit."""
    mount = tmp_path / "small"
    mount_tmpfs(mount, "600k")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.fixture
def removable_drive(tmp_path: Path):
    """A tmpfs standing in for a drive that a test may unplug (lazy unmount)."""
    mount = tmp_path / "drive"
    mount_tmpfs(mount, "64m")
    yield mount
    if os.path.ismount(mount):
        subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_full_destination_does_not_stop_the_other(
    session_copy: Path, tmp_path: Path, small_tmpfs: Path
) -> None:
    result = export_session(session_copy, [small_tmpfs / "out", tmp_path / "big"])
    full, big = result.destinations
    assert not result.ok
    assert full.error is not None and "is full" in full.error
    assert full.missing and not full.complete
    assert_verified_files_are_true(full.root, full.verified, session_copy)
    assert not list(full.root.rglob(".*.partial-*"))
    assert big.complete and verify(big.root).returncode == 0


def test_a_destination_that_disappears_mid_copy(
    session_copy: Path, tmp_path: Path, removable_drive: Path
) -> None:
    gone, kept = removable_drive / "out", tmp_path / "kept"
    read = 0
    lock = threading.Lock()

    def unplug(count: int) -> None:
        nonlocal read
        with lock:  # both copy threads report progress; the drive is pulled once
            read += count
            if read > 400_000 and os.path.ismount(removable_drive):
                subprocess.run(["umount", "-l", str(removable_drive)], check=True)

    result = export_session(session_copy, [gone, kept], progress=unplug)
    lost, complete = result.destinations
    assert lost.error is not None and "disappeared" in lost.error
    assert lost.missing and not gone.exists()
    assert complete.complete and verify(kept).returncode == 0


def test_an_interrupted_export_resumes_without_copying_again(
    session_copy: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    read = 0

    def interrupt(count: int) -> None:
        nonlocal read
        read += count
        if read > 600_000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export_session(session_copy, [out], progress=interrupt, workers=1)
    first = sorted(p for p in out.rglob("*.jpg"))
    assert first, "nothing was copied before the interruption"
    inodes = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in first}
    assert not (out / "ascmhl").exists()

    result = export_session(session_copy, [out])
    assert result.ok
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in first} == inodes
    assert not list(out.rglob(".*.partial-*"))
    assert verify(out).returncode == 0
    # A third run re-reads everything and records it as verified in a new generation.
    again = export_session(session_copy, [out])
    assert again.ok
    generations = sorted((out / "ascmhl").glob("*.mhl"))
    assert len(generations) == 2
    assert 'action="verified"' in generations[1].read_text()
    assert 'action="original"' not in generations[1].read_text()
    assert verify(out).returncode == 0


@pytest.mark.slow
def test_an_export_killed_mid_copy_resumes(session_copy: Path, tmp_path: Path) -> None:
    """SIGKILL, as a crash or a pulled power cord: no clean-up code runs."""
    import signal
    import sys
    import time

    fatten_session(session_copy, 400 * 1024**2)
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "capture_assist.cli",
        "export",
        str(session_copy),
        "--to",
        str(out),
        "--no-progress",
    ]
    process = subprocess.Popen(
        command, cwd=Path(__file__).resolve().parents[2], stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while not list(out.rglob("*.jpg")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the export finished before it could be killed"
    survivors = {p: p.stat().st_ino for p in out.rglob("*.jpg")}
    assert not (out / "ascmhl").exists()

    result = export_session(session_copy, [out])
    assert result.ok
    assert {p: p.stat().st_ino for p in survivors} == survivors  # re-read, not copied again
    assert not list(out.rglob(".*.partial-*"))
    assert verify(out).returncode == 0


def test_a_source_deleted_after_capture_is_refused(session_copy: Path, tmp_path: Path) -> None:
    record = read_session(session_copy)
    victim = record.takes[0]
    (session_copy / victim.files[0].relative_path).unlink()
    result = export_session(session_copy, [tmp_path / "out"])
    assert [r.step_id for r in result.refused] == [victim.step_id]
    assert "cannot be read" in result.refused[0].reason
    assert not result.ok and victim.step_id not in result.takes
    assert len(result.takes) == len(record.takes) - 1
    assert result.destinations[0].missing == ()  # nothing planned is missing: the take was left out
    assert verify(tmp_path / "out").returncode == 0


def test_an_export_never_overwrites_what_an_earlier_one_delivered(
    session_copy: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert export_session(session_copy, [out]).ok
    before = (out / "train/metadata.jsonl").read_bytes()
    mark_all_beats(session_copy, read_session(session_copy).takes[0].step_id)
    again = export_session(session_copy, [out])
    assert not again.ok
    error = again.destinations[0].error
    assert error is not None and "earlier export" in error and "empty folder" in error
    assert (out / "train/metadata.jsonl").read_bytes() == before
    assert not list(out.rglob(".*.partial-*"))
    assert verify(out).returncode == 0


def test_a_rerun_repairs_a_delivered_file_that_rotted(session_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert export_session(session_copy, [out]).ok
    rotten = next((out / "train").rglob("*.jpg"))
    flip_one_byte(rotten)
    assert verify(out).returncode != 0
    again = export_session(session_copy, [out])
    assert again.ok
    assert verify(out).returncode == 0
    source = next(p for p in session_copy.rglob(rotten.name))
    assert rotten.read_bytes() == source.read_bytes()


def test_an_interrupted_retake_is_left_out_not_fatal(session_copy: Path, tmp_path: Path) -> None:
    record = read_session(session_copy)
    retaken = record.takes[0]
    with SessionDatabase(session_copy / "session.sqlite") as database:
        attempt = database.begin_attempt(retaken.step_id, 99.0, retake=True)
        # The crash came after the file was recorded; the resume set it aside in _incomplete/.
        database.record_file(
            retaken.step_id, attempt, "cam_a", "gone/x_cam_a.jpg", "gone/x_cam_a.json", "0" * 64, 1
        )
        database.abandon_interrupted()
    result = export_session(session_copy, [tmp_path / "out"])
    assert result.ok
    assert retaken.step_id not in result.takes
    reason = next(e.reason for e in result.excluded if e.step_id == retaken.step_id)
    assert "not done" in reason and "interrupted" in reason


def test_the_report_can_travel_with_the_dataset(session_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert (
        main(["export", str(session_copy), "--to", str(out), "--with-report", "--no-progress"]) == 0
    )
    page = (out / "report.html").read_text()
    assert "<h2>Coverage</h2>" in page
    assert verify(out).returncode == 0
    assert "report.html</path>" in next((out / "ascmhl").glob("*.mhl")).read_text()
