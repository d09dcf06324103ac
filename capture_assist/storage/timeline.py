"""Editorial views of a session: an OpenTimelineIO timeline and an Avid ALE.

The only module that imports ``opentimelineio``. The timeline stacks one
video track per camera angle; each take is a clip on every angle's track at
the same place (a gap where an angle has no file), and each marked beat is a
marker on the clip. The ALE lists one line per file for bin import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import opentimelineio as otio

from capture_assist.storage.dataset import DEFAULT_LAYOUT, DatasetLayout, session_angles
from capture_assist.storage.session_files import SessionRecord, SessionStep, StoredFile

MARKER_COLOURS = ("RED", "ORANGE", "YELLOW", "GREEN", "CYAN", "BLUE", "PURPLE", "MAGENTA")
ALE_COLUMNS = (
    "Name",
    "Tape",
    "Start",
    "End",
    "Duration",
    "Source File",
    "Scene",
    "Take",
    "Camera",
    "Angle",
    "Rating",
    "QC",
    "Comments",
)


def take_duration_s(step: SessionStep) -> float:
    """Return how long a take lasts on the timeline.

    A still is captured in an instant but the action it shows takes its
    expected duration; a marked beat past that end extends the take.
    """
    sidecar = step.files[0].sidecar
    start_s = float(sidecar["capture"]["session_start_s"])
    lengths = [float(sidecar["take"]["action"]["expected_duration_s"])]
    if step.started_s is not None and step.finished_s is not None:
        lengths.append(step.finished_s - step.started_s)
    lengths.extend(beat.session_time_s - start_s + 1.0 for beat in step.beats)
    return max(lengths)


def _rate(stored: StoredFile) -> float:
    return float(stored.sidecar["capture"]["timecode_rate"])


def _source_range(stored: StoredFile, duration_s: float) -> otio.opentime.TimeRange:
    rate = _rate(stored)
    start = otio.opentime.from_timecode(stored.sidecar["capture"]["timecode"], rate)
    duration = otio.opentime.RationalTime(round(duration_s * rate), rate)
    return otio.opentime.TimeRange(start, duration)


def _beat_colours(record: SessionRecord) -> dict[str, str]:
    names = dict.fromkeys(beat.name for action in record.shotlist.actions for beat in action.beats)
    return {name: MARKER_COLOURS[i % len(MARKER_COLOURS)] for i, name in enumerate(names)}


def _clip(
    step: SessionStep, stored: StoredFile, layout: DatasetLayout, colours: dict[str, str]
) -> otio.schema.Clip:
    duration_s = take_duration_s(step)
    source_range = _source_range(stored, duration_s)
    rate = _rate(stored)
    qc = stored.sidecar.get("qc") or {}
    media = otio.schema.ExternalReference(
        target_url="../" + layout.media_path(step, stored), available_range=source_range
    )
    metadata: dict[str, Any] = {
        "capture_assist": {
            "take_id": step.step_id,
            "attempt": step.attempt,
            "camera": stored.camera_id,
            "angle": stored.angle_id,
            "rating": step.rating,
            "qc_verdict": qc.get("verdict"),
            "sha256": stored.sha256,
        }
    }
    clip = otio.schema.Clip(
        name=f"{step.step_id} {stored.angle_id}",
        media_reference=media,
        source_range=source_range,
        metadata=metadata,
    )
    take_start_s = float(stored.sidecar["capture"]["session_start_s"])
    planned = {b["name"]: b for b in stored.sidecar["take"]["action"]["beats"]}
    for index, beat in enumerate(step.beats):
        offset_s = beat.session_time_s - take_start_s
        offset = otio.opentime.RationalTime(round(offset_s * rate), rate)
        if index + 1 < len(step.beats):
            length_s = step.beats[index + 1].session_time_s - beat.session_time_s
        else:
            length_s = float(planned.get(beat.name, {}).get("duration_s", 0.0))
        clip.markers.append(
            otio.schema.Marker(
                name=beat.name,
                marked_range=otio.opentime.TimeRange(
                    source_range.start_time + offset,
                    otio.opentime.RationalTime(round(max(length_s, 0.0) * rate), rate),
                ),
                color=colours.get(beat.name, "RED"),
                comment=beat.note,
                metadata={
                    "capture_assist": {
                        "session_time_s": beat.session_time_s,
                        "timecode": beat.timecode,
                        "seconds_into_take": round(offset_s, 4),
                        "planned_start_s": planned.get(beat.name, {}).get("start_s"),
                    }
                },
            )
        )
    return clip


def build_timeline(
    record: SessionRecord, takes: Sequence[SessionStep], layout: DatasetLayout = DEFAULT_LAYOUT
) -> otio.schema.Timeline:
    """Return the session as a timeline: one track per angle, takes as clips, beats as markers."""
    timeline = otio.schema.Timeline(name=record.shotlist.project.id)
    colours = _beat_colours(record)
    for angle in session_angles(record):
        track = otio.schema.Track(name=angle, kind=otio.schema.TrackKind.Video)
        for step in takes:
            stored = next((f for f in step.files if f.angle_id == angle), None)
            if stored is None:
                rate = _rate(step.files[0])
                duration = otio.opentime.RationalTime(round(take_duration_s(step) * rate), rate)
                track.append(otio.schema.Gap(duration=duration))
            else:
                track.append(_clip(step, stored, layout, colours))
        timeline.tracks.append(track)
    return timeline


def otio_json(
    record: SessionRecord, takes: Sequence[SessionStep], layout: DatasetLayout = DEFAULT_LAYOUT
) -> str:
    """Return the timeline as ``.otio`` JSON."""
    return str(otio.adapters.write_to_string(build_timeline(record, takes, layout), "otio_json"))


def _ale_value(value: object) -> str:
    # ALE is tab-delimited, one record per line: a tab or newline in a value breaks it.
    return " ".join(str(value).replace("\t", " ").split())


def _video_format(height: int) -> str:
    return {1080: "1080", 720: "720", 576: "PAL", 486: "NTSC"}.get(height, "CUSTOM")


def ale_text(
    record: SessionRecord, takes: Sequence[SessionStep], layout: DatasetLayout = DEFAULT_LAYOUT
) -> str:
    """Return an Avid Log Exchange with one line per file of every take."""
    first = takes[0].files[0] if takes else None
    rate = _rate(first) if first else 25.0
    height = int(first.sidecar["camera"]["records"]["resolution"][1]) if first else 1080
    lines = [
        "Heading",
        "FIELD_DELIM\tTABS",
        f"VIDEO_FORMAT\t{_video_format(height)}",
        f"FPS\t{rate:g}",
        "",
        "Column",
        "\t".join(ALE_COLUMNS),
        "",
        "Data",
    ]
    for step in takes:
        for stored in step.files:
            source_range = _source_range(stored, take_duration_s(step))
            start = otio.opentime.to_timecode(source_range.start_time, _rate(stored))
            end = otio.opentime.to_timecode(source_range.end_time_exclusive(), _rate(stored))
            duration = otio.opentime.to_timecode(
                otio.opentime.RationalTime(source_range.duration.value, _rate(stored)),
                _rate(stored),
            )
            take = stored.sidecar["take"]
            qc = stored.sidecar.get("qc") or {}
            values = (
                f"{step.step_id}_{stored.camera_id}",
                stored.camera_id,
                start,
                end,
                duration,
                layout.media_path(step, stored),
                take["setup_id"],
                take["repetition"],
                stored.camera_id,
                stored.angle_id,
                step.rating or "",
                qc.get("verdict") or "",
                step.notes,
            )
            lines.append("\t".join(_ale_value(value) for value in values))
    return "\n".join(lines) + "\n"
