"""The JSON sidecar written beside every media file (``<stem>.json``), schema v1.

The sidecar is self-contained: a file moved away from its session still says
what it shows, how it was shot, and what its bytes must hash to. Its JSON
Schema ships in the package and every sidecar is validated before it is written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from capture_assist import __version__
from capture_assist.devices.base import CameraIdentity
from capture_assist.shotlist.matrix import Setup, Take
from capture_assist.shotlist.model import Camera, ShotList
from capture_assist.storage.atomic import FileDigest, atomic_write_json

SCHEMA_NAME = "capture-assist/take-sidecar"
SCHEMA_VERSION = 1
SCHEMA_FILE = "take-sidecar.v1.schema.json"


class SidecarError(ValueError):
    """A sidecar that does not match its schema (a bug, or a file edited by hand)."""


@cache
def sidecar_schema() -> dict[str, Any]:
    """Return the shipped JSON Schema of sidecars."""
    text = resources.files("capture_assist.storage").joinpath("schemas", SCHEMA_FILE).read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = sidecar_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def validate_sidecar(document: Mapping[str, Any]) -> None:
    """Raise ``SidecarError`` listing every way ``document`` breaks the schema."""
    errors = sorted(_validator().iter_errors(document), key=lambda e: list(e.path))
    if errors:
        lines = [f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message}" for e in errors]
        raise SidecarError("sidecar does not match its schema:\n" + "\n".join(lines))


def sidecar_path_for(media_path: Path) -> Path:
    """Return the sidecar's path: the media's stem with ``.json``."""
    return media_path.with_suffix(".json")


def write_sidecar(path: Path, document: Mapping[str, Any]) -> None:
    """Validate ``document`` and write it atomically."""
    validate_sidecar(document)
    atomic_write_json(path, document)


def load_sidecar(path: Path) -> dict[str, Any]:
    """Read and validate a sidecar."""
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    validate_sidecar(document)
    return document


def _scalars(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Keep JSON scalars; nested snapshots become their own object of scalars."""
    result: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, Mapping):
            result[key] = _scalars(value)
        elif value is None or isinstance(value, bool | int | float | str):
            result[key] = value
        else:
            result[key] = str(value)
    return result


def _camera_section(
    camera: Camera, angle_id: str, identity: CameraIdentity, settings: Mapping[str, Any]
) -> dict[str, Any]:
    records = camera.records
    return {
        "id": camera.id,
        "angle": angle_id,
        "source_kind": camera.source.kind,
        "identity": {
            "make": identity.make,
            "model": identity.model,
            "serial": identity.serial,
            "port": identity.port,
        },
        "records": {
            "kind": records.kind,
            "resolution": list(records.resolution),
            "frame_rate": records.frame_rate,
            "picture_profile": records.picture_profile,
            "gamma": records.gamma,
            "colour_space": records.colour_space,
            "file_format": records.file_format,
            "lens": records.lens,
            "focal_length_mm": records.focal_length_mm,
        },
        "settings": _scalars(settings),
    }


def _common(
    *,
    kind: str,
    shotlist: ShotList,
    shotlist_path: str,
    shotlist_sha256: str,
    camera: Camera,
    angle_id: str,
    media_relative_path: str,
    digest: FileDigest,
    mime: str,
    identity: CameraIdentity,
    settings: Mapping[str, Any],
    started_at: datetime,
    finished_at: datetime,
    session_start_s: float,
    session_end_s: float,
    timecode: str,
    timecode_rate: float,
    trigger_skew_s: float | None,
    trigger: str = "app",
    original_name: str = "",
) -> dict[str, Any]:
    return {
        "schema": SCHEMA_NAME,
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "project": {"id": shotlist.project.id, "title": shotlist.project.title},
        "shotlist": {
            "path": shotlist_path,
            "sha256": shotlist_sha256,
            "format_version": shotlist.version,
        },
        "camera": _camera_section(camera, angle_id, identity, settings),
        "media": {
            "file": Path(media_relative_path).name,
            "relative_path": media_relative_path,
            "size_bytes": digest.size_bytes,
            "sha256": digest.sha256,
            "mime": mime,
            "original_name": original_name,
        },
        "capture": {
            "started_at": started_at.isoformat(),
            "finished_at": finished_at.isoformat(),
            "session_start_s": session_start_s,
            "session_end_s": session_end_s,
            "timecode": timecode,
            "timecode_rate": timecode_rate,
            "trigger_skew_s": trigger_skew_s,
            "trigger": trigger,
        },
        "software": {"name": "capture-assist", "version": __version__},
    }


def build_take_sidecar(*, take: Take, attempt: int, **common: Any) -> dict[str, Any]:
    """Return the sidecar of one camera's file of a take (see the schema for fields)."""
    shotlist: ShotList = common["shotlist"]
    subject = next(s for s in shotlist.subjects if s.id == take.subject)
    action = next(a for a in shotlist.actions if a.id == take.action)
    lighting = next(light for light in shotlist.lighting if light.id == take.lighting)
    angle = next(a for a in shotlist.angles if a.id == common["angle_id"])
    document = _common(kind="take", **common)
    document["take"] = {
        "take_id": take.take_id,
        "setup_id": take.setup_id,
        "index": take.index,
        "attempt": attempt,
        "repetition": take.repetition,
        "placement": take.placement.id,
        "subject": {
            "id": subject.id,
            "description": subject.description,
            "consent": {
                "release_id": subject.consent.release_id,
                "status": subject.consent.status.value,
                "data_mining": subject.consent.data_mining.value,
            },
        },
        "action": {
            "id": action.id,
            "description": action.description,
            "labels": list(action.labels),
            "expected_duration_s": action.expected_duration_s,
            "beats": [
                {"name": name, "start_s": start, "duration_s": duration}
                for name, start, duration in action.beat_schedule()
            ],
        },
        "angle": {
            "id": angle.id,
            "description": angle.description,
            "height_m": angle.height_m,
            "distance_m": angle.distance_m,
        },
        "lighting": {
            "id": lighting.id,
            "cct_k": lighting.cct_k,
            "description": lighting.description,
        },
    }
    document["labels"] = {
        "project": shotlist.project.id,
        "setup": take.setup_id,
        "subject": take.subject,
        "action": take.action,
        "angle": angle.id,
        "placement": take.placement.id,
        "lighting": take.lighting,
        "repetition": take.repetition,
        "camera": common["camera"].id,
    }
    document["hierarchical_labels"] = list(action.labels)
    document["beats_marked"] = []
    document["qc"] = None
    document["rating"] = None
    document["notes"] = ""
    return document


def build_reference_sidecar(*, setup: Setup, attempt: int, **common: Any) -> dict[str, Any]:
    """Return the sidecar of one camera's reference frame (ColorChecker + grey card)."""
    shotlist: ShotList = common["shotlist"]
    lighting = next(light for light in shotlist.lighting if light.id == setup.lighting)
    document = _common(kind="reference", **common)
    document["reference"] = {
        "setup_id": setup.setup_id,
        "reference_id": setup.reference_id,
        "attempt": attempt,
        "placement": setup.placement.id,
        "lighting": {
            "id": lighting.id,
            "cct_k": lighting.cct_k,
            "description": lighting.description,
        },
    }
    document["labels"] = {
        "project": shotlist.project.id,
        "setup": setup.setup_id,
        "angle": common["angle_id"],
        "placement": setup.placement.id,
        "lighting": setup.lighting,
        "camera": common["camera"].id,
    }
    document["hierarchical_labels"] = ["reference/colorchecker_grey_card"]
    document["qc"] = None
    document["notes"] = ""
    return document
