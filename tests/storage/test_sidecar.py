from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from capture_assist.devices.base import CameraIdentity
from capture_assist.shotlist.loader import load_shotlist
from capture_assist.shotlist.matrix import expand
from capture_assist.storage.atomic import FileDigest
from capture_assist.storage.sidecar import (
    SidecarError,
    build_reference_sidecar,
    build_take_sidecar,
    load_sidecar,
    sidecar_path_for,
    validate_sidecar,
    write_sidecar,
)


def common(demo_shotlist_path: Path) -> dict[str, Any]:
    loaded = load_shotlist(demo_shotlist_path)
    camera = loaded.model.cameras[1]
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    return {
        "shotlist": loaded.model,
        "shotlist_path": str(demo_shotlist_path),
        "shotlist_sha256": loaded.sha256,
        "camera": camera,
        "angle_id": "side",
        "attempt": 2,
        "media_relative_path": "daylight/s01/x_cam_b.jpg",
        "digest": FileDigest("ab" * 32, 1234),
        "mime": "image/jpeg",
        "identity": CameraIdentity("Maker", "Model", "SN1", "usb:001,002"),
        "settings": {"iso": 400, "shutter_s": 0.02, "all": {"iso": "400"}},
        "started_at": now,
        "finished_at": now,
        "session_start_s": 1.0,
        "session_end_s": 1.2,
        "timecode": "12:00:00:00",
        "timecode_rate": 25.0,
        "trigger_skew_s": 0.001,
    }


@pytest.fixture
def take_sidecar(demo_shotlist_path: Path) -> dict[str, Any]:
    fields = common(demo_shotlist_path)
    take = expand(fields["shotlist"]).takes[0]
    return build_take_sidecar(take=take, **fields)


def test_take_sidecar_is_valid_and_carries_every_label(take_sidecar: dict[str, Any]) -> None:
    validate_sidecar(take_sidecar)
    assert take_sidecar["labels"] == {
        "project": "demo_kitchen",
        "setup": "daylight.front+side",
        "subject": "s01",
        "action": "pick_up_glass",
        "angle": "side",
        "placement": "front+side",
        "lighting": "daylight",
        "repetition": 1,
        "camera": "cam_b",
    }
    assert take_sidecar["take"]["attempt"] == 2
    assert take_sidecar["take"]["subject"]["consent"]["release_id"] == "MR-2026-0001"
    assert take_sidecar["camera"]["records"]["picture_profile"] == "Standard"
    beats = take_sidecar["take"]["action"]["beats"]
    assert [b["name"] for b in beats] == ["reach", "grasp", "lift", "place"]
    assert beats[2]["start_s"] == pytest.approx(1.5) and beats[2]["duration_s"] == pytest.approx(
        0.75
    )


def test_reference_sidecar_is_valid(demo_shotlist_path: Path) -> None:
    fields = common(demo_shotlist_path)
    setup = expand(fields["shotlist"]).setups[1]
    document = build_reference_sidecar(setup=setup, **fields)
    validate_sidecar(document)
    assert document["reference"]["lighting"]["cct_k"] == 3200


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("media"),
        lambda d: d.__setitem__("surprise", 1),
        lambda d: d["media"].__setitem__("sha256", "not-a-hash"),
        lambda d: d["capture"].__setitem__("timecode", "25:99:00:00"),
        lambda d: d["take"].__setitem__("attempt", 0),
        lambda d: d.__setitem__("kind", "reference"),
        lambda d: d["media"].__setitem__("relative_path", "../escape.jpg"),
    ],
)
def test_schema_rejects_broken_sidecars(take_sidecar: dict[str, Any], mutate: Any) -> None:
    broken = copy.deepcopy(take_sidecar)
    mutate(broken)
    with pytest.raises(SidecarError):
        validate_sidecar(broken)


def test_write_and_load_round_trip(take_sidecar: dict[str, Any], tmp_path: Path) -> None:
    path = sidecar_path_for(tmp_path / "x_cam_b.jpg")
    assert path.name == "x_cam_b.json"
    write_sidecar(path, take_sidecar)
    assert load_sidecar(path) == take_sidecar
    broken = copy.deepcopy(take_sidecar)
    del broken["labels"]
    with pytest.raises(SidecarError):
        write_sidecar(tmp_path / "bad.json", broken)
    assert not (tmp_path / "bad.json").exists()
