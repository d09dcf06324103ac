"""XMP sidecars read back by exiftool, the reader DAM tools trust."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from delivery_helpers import mark_all_beats

from capture_assist.session.database import Rating, SessionDatabase
from capture_assist.storage.session_files import mark_beat, read_session
from capture_assist.storage.xmp import TakeContext, build_xmp, hierarchical_labels


def exiftool(path: Path) -> dict:
    output = subprocess.run(
        ["exiftool", "-j", "-n", "-struct", "-G1", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output)[0]


def test_exiftool_reads_back_every_field(session_copy: Path, tmp_path: Path) -> None:
    step_id = read_session(session_copy).takes[0].step_id
    names = mark_all_beats(session_copy, step_id)
    with SessionDatabase(session_copy / "session.sqlite") as database:
        database.set_rating(step_id, Rating.CIRCLE)
        database.set_notes(step_id, "clean grasp")
    step = next(s for s in read_session(session_copy).takes if s.step_id == step_id)
    stored = step.files[0]
    sidecar = stored.sidecar
    path = tmp_path / "take.xmp"
    path.write_text(build_xmp(sidecar, TakeContext(step.rating, step.notes, step.beats)))

    tags = exiftool(path)

    hierarchy = hierarchical_labels(sidecar, names)
    assert tags["XMP-lr:HierarchicalSubject"] == hierarchy
    assert "action|pick_up_glass|grasp" in hierarchy
    assert "interaction|grasp|glass" in hierarchy
    assert set(tags["XMP-dc:Subject"]) == {level for h in hierarchy for level in h.split("|")}
    assert tags["XMP-tiff:Make"] == "capture-assist"
    assert tags["XMP-tiff:Model"] == "Simulated Set"
    assert (tags["XMP-tiff:ImageWidth"], tags["XMP-tiff:ImageHeight"]) == (1280, 720)
    assert tags["XMP-exifEX:SerialNumber"] == sidecar["camera"]["identity"]["serial"]
    assert tags["XMP-exifEX:LensModel"] == sidecar["camera"]["records"]["lens"]
    settings = sidecar["camera"]["settings"]
    assert tags["XMP-exif:ExposureTime"] == pytest.approx(settings["shutter_s"])
    assert tags["XMP-exif:FNumber"] == pytest.approx(settings["aperture_f"])
    assert tags["XMP-exif:ISO"] == [settings["iso"]]
    assert tags["XMP-exif:FocalLength"] == pytest.approx(settings["focal_length_mm"])
    assert tags["XMP-exif:WhiteBalance"] == 1
    assert tags["XMP-exif:DateTimeOriginal"].startswith(
        sidecar["capture"]["started_at"][:10].replace("-", ":")
    )
    assert tags["XMP-crs:ColorTemperature"] == round(settings["white_balance_k"])
    assert tags["XMP-crs:CameraProfile"] == "Standard"
    take = sidecar["take"]
    assert tags["XMP-xmpDM:ShotName"] == step_id
    assert tags["XMP-xmpDM:Scene"] == take["setup_id"]
    assert tags["XMP-xmpDM:TakeNumber"] == take["repetition"]
    assert tags["XMP-xmpDM:CameraAngle"] == stored.angle_id
    assert tags["XMP-xmpDM:CameraLabel"] == stored.camera_id
    assert tags["XMP-xmpDM:Good"] is True
    assert "clean grasp" in tags["XMP-xmpDM:LogComment"]
    assert tags["XMP-xmpDM:StartTimecode"] == {
        "TimeFormat": "25Timecode",
        "TimeValue": sidecar["capture"]["timecode"],
    }
    markers = tags["XMP-xmpDM:Markers"]
    assert [m["Name"] for m in markers] == names
    assert [m["StartTime"] for m in markers] == [
        round((0.2 + i * 0.7) * 25) for i in range(len(names))
    ]
    assert markers[0]["Duration"] == round(0.7 * 25)
    assert all(m["Type"] == "Cue" for m in markers)
    consent = take["subject"]["consent"]
    assert str(tags["XMP-plus:DataMining"]).endswith("DMI-ALLOWED")
    assert tags["XMP-plus:ModelReleaseStatus"] == "MR-UMR"
    assert tags["XMP-plus:ModelReleaseID"] == [consent["release_id"]]


def test_ng_take_and_reference_frame(session_copy: Path, tmp_path: Path) -> None:
    record = read_session(session_copy)
    take = record.takes[-1]
    reference = record.references[0]
    ng = tmp_path / "ng.xmp"
    ng.write_text(build_xmp(take.files[0].sidecar, TakeContext("ng", "", ())))
    tags = exiftool(ng)
    assert tags["XMP-xmpDM:Good"] is False
    assert "XMP-xmpDM:Markers" not in tags
    ref = tmp_path / "ref.xmp"
    ref.write_text(build_xmp(reference.files[0].sidecar, TakeContext()))
    tags = exiftool(ref)
    assert tags["XMP-xmpDM:ShotName"] == reference.step_id
    assert "reference|colorchecker_grey_card" in tags["XMP-lr:HierarchicalSubject"]
    assert "XMP-plus:DataMining" not in tags


def test_mark_beat_refuses_a_beat_the_action_does_not_have(session_copy: Path) -> None:
    step_id = read_session(session_copy).takes[0].step_id
    with pytest.raises(ValueError, match="not a beat"):
        mark_beat(session_copy, step_id, "jump", 1.0)
    with pytest.raises(KeyError):
        mark_beat(session_copy, "no.such.take", "reach", 1.0)
    mark = mark_beat(session_copy, step_id, "reach", 1.0)
    assert read_session(session_copy).takes[0].beats == (mark,)
