"""The dataset's manifests: ``metadata.jsonl`` for Hugging Face folder builders, a CSV twin, COCO.

One row per take. Every camera angle gets its own ``<angle>_file_name``
column (the builders turn each into a media column), and every row has every
column, with ``null`` where a take lacks an angle or a metric, so the ML
team's loader never meets a ragged table.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from capture_assist.analysis.qc import METRICS
from capture_assist.storage.session_files import SessionRecord, SessionStep, StoredFile
from capture_assist.storage.xmp import hierarchical_labels

DATASET_SPLIT = "train"
REFERENCE_FOLDER = "reference"
SETTINGS_COLUMNS = ("iso", "shutter_s", "aperture_f", "white_balance_k", "focal_length_mm")
COCO_CHART_CATEGORY = {"id": 1, "name": "colorchecker_classic_24", "supercategory": "chart"}


@dataclass(frozen=True, slots=True)
class DatasetLayout:
    """Where a session's files go in a delivery (paths relative to its root)."""

    split: str = DATASET_SPLIT

    def media_path(self, step: SessionStep, stored: StoredFile) -> str:
        """Return the destination path of a stored media file."""
        relative = stored.relative_path
        if not step.is_take:
            return f"{REFERENCE_FOLDER}/{relative.split('/', 1)[1]}"
        return f"{self.split}/{relative}"

    def sidecar_path(self, step: SessionStep, stored: StoredFile) -> str:
        """Return the destination path of a stored file's JSON sidecar."""
        media = self.media_path(step, stored)
        return media.rsplit("/", 1)[0] + "/" + stored.sidecar_relative_path.rsplit("/", 1)[-1]


DEFAULT_LAYOUT = DatasetLayout()


def session_angles(record: SessionRecord) -> tuple[str, ...]:
    """Return every camera angle of the shot list, in shot-list order."""
    return tuple(angle.id for angle in record.shotlist.angles)


def _beats_column(step: SessionStep, stored: StoredFile) -> list[dict[str, Any]]:
    """Return each planned beat with its mark (seconds into the take) when one was made."""
    start_s = float(stored.sidecar["capture"]["session_start_s"])
    marks = {beat.name: beat for beat in step.beats}
    rows = []
    for planned in stored.sidecar["take"]["action"]["beats"]:
        mark = marks.get(planned["name"])
        rows.append(
            {
                "name": planned["name"],
                "planned_start_s": planned["start_s"],
                "planned_duration_s": planned["duration_s"],
                "marked_s": round(mark.session_time_s - start_s, 4) if mark else None,
                "timecode": mark.timecode if mark else None,
            }
        )
    return rows


def _qc_value(qc: Mapping[str, Any], metric: str) -> float | None:
    value = qc.get("metrics", {}).get(metric, {}).get("worst")
    return float(value) if isinstance(value, int | float) else None


def take_row(
    record: SessionRecord, step: SessionStep, layout: DatasetLayout = DEFAULT_LAYOUT
) -> dict[str, Any]:
    """Return one take's row of ``metadata.jsonl`` (paths relative to the split folder)."""
    by_angle = {stored.angle_id: stored for stored in step.files}
    first = step.files[0].sidecar
    take = first["take"]
    consent = take["subject"]["consent"]
    row: dict[str, Any] = {}
    for angle in session_angles(record):
        stored = by_angle.get(angle)
        row[f"{angle}_file_name"] = (
            layout.media_path(step, stored).split("/", 1)[1] if stored else None
        )
    row.update(
        take_id=step.step_id,
        setup_id=step.setup_id,
        subject=take["subject"]["id"],
        action=take["action"]["id"],
        lighting=take["lighting"]["id"],
        lighting_cct_k=take["lighting"]["cct_k"],
        placement=take["placement"],
        repetition=take["repetition"],
        attempt=step.attempt,
        rating=step.rating,
        notes=step.notes,
        labels=list(take["action"]["labels"]),
        hierarchical_labels=hierarchical_labels(
            first, [beat["name"] for beat in take["action"]["beats"]]
        ),
        consent_release_id=consent["release_id"],
        consent_model_release=consent["status"],
        consent_data_mining=consent["data_mining"],
        started_at=first["capture"]["started_at"],
        timecode=first["capture"]["timecode"],
        timecode_rate=first["capture"]["timecode_rate"],
        expected_duration_s=take["action"]["expected_duration_s"],
        beats=_beats_column(step, step.files[0]),
    )
    verdicts = []
    for angle in session_angles(record):
        stored = by_angle.get(angle)
        sidecar = stored.sidecar if stored else None
        qc = (sidecar or {}).get("qc") or {}
        settings = sidecar["camera"]["settings"] if sidecar else {}
        row[f"{angle}_camera"] = sidecar["camera"]["id"] if sidecar else None
        row[f"{angle}_sha256"] = stored.sha256 if stored else None
        for name in SETTINGS_COLUMNS:
            value = settings.get(name)
            row[f"{angle}_{name}"] = float(value) if isinstance(value, int | float) else None
        row[f"{angle}_qc_verdict"] = qc.get("verdict")
        if qc.get("verdict"):
            verdicts.append(str(qc["verdict"]))
        for metric in METRICS:
            row[f"{angle}_qc_{metric}"] = _qc_value(qc, metric)
    order = ("pass", "warn", "fail")
    row["qc_verdict"] = max(verdicts, key=order.index) if verdicts else None
    return row


def metadata_jsonl(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """Return ``metadata.jsonl``: one JSON object per line, keys in one order."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


def metadata_csv(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """Return the CSV twin: the same columns, lists and objects as JSON text."""
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    key: json.dumps(value, ensure_ascii=False)
                    if isinstance(value, list | dict)
                    else ("" if value is None else value)
                    for key, value in row.items()
                }
            )
    return buffer.getvalue().encode("utf-8")


def _polygon_area(points: Sequence[Sequence[float]]) -> float:
    twice = sum(
        x0 * y1 - x1 * y0
        for (x0, y0), (x1, y1) in zip(points, [*points[1:], points[0]], strict=True)
    )
    return abs(twice) / 2


def coco_reference_charts(
    record: SessionRecord,
    references: Sequence[SessionStep],
    image_sizes: Mapping[str, tuple[int, int]],
    layout: DatasetLayout = DEFAULT_LAYOUT,
) -> dict[str, Any]:
    """Return COCO detection annotations of the ColorChecker in every reference frame.

    ``file_name`` is relative to the delivery's root; ``image_sizes`` maps each
    reference media path (destination-relative) to its pixel (width, height).
    """
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for step in references:
        for stored in step.files:
            path = layout.media_path(step, stored)
            width, height = image_sizes[path]
            image_id = len(images) + 1
            images.append(
                {
                    "id": image_id,
                    "file_name": path,
                    "width": width,
                    "height": height,
                    "setup_id": step.setup_id,
                    "camera": stored.camera_id,
                    "angle": stored.angle_id,
                }
            )
            baseline = ((stored.sidecar.get("qc") or {}).get("baseline")) or {}
            corners = baseline.get("chart_corners")
            if not corners:
                continue
            xs = [point[0] for point in corners]
            ys = [point[1] for point in corners]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": COCO_CHART_CATEGORY["id"],
                    "bbox": [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)],
                    "segmentation": [[coordinate for point in corners for coordinate in point]],
                    "area": round(_polygon_area(corners), 2),
                    "iscrowd": 0,
                    "attributes": {
                        key: baseline[key]
                        for key in ("cct_k", "duv", "grey_exposure_ev", "delta_e_mean")
                        if key in baseline
                    },
                }
            )
    return {
        "info": {
            "description": f"{record.shotlist.project.id}: ColorChecker in each reference frame",
            "version": "1.0",
        },
        "images": images,
        "annotations": annotations,
        "categories": [COCO_CHART_CATEGORY],
    }
