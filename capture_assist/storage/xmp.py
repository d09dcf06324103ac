"""XMP sidecars (``<basename>.xmp``) that DAM tools and exiftool read.

The only module that imports ``libxmp`` (python-xmp-toolkit over Exempi, the
Adobe XMP toolkit): the packet is built as an RDF data model and serialised by
the toolkit, never assembled from text. Everything written comes from the
file's JSON sidecar plus what the session learnt after the capture (rating,
notes, beat marks).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import PurePosixPath
from typing import Any

from libxmp import XMPMeta, consts

from capture_assist.storage.session_files import BeatMark

NS_DC = consts.XMP_NS_DC
NS_LR = "http://ns.adobe.com/lightroom/1.0/"
NS_TIFF = consts.XMP_NS_TIFF
NS_EXIF = consts.XMP_NS_EXIF
NS_EXIF_EX = "http://cipa.jp/exif/1.0/"
NS_CRS = consts.XMP_NS_CameraRaw
NS_DM = consts.XMP_NS_DM
NS_PLUS = "http://ns.useplus.org/ldf/xmp/1.0/"
PLUS_VOCAB = "http://ns.useplus.org/ldf/vocab/"

_EXTRA_NAMESPACES = {NS_LR: "lr", NS_EXIF_EX: "exifEX", NS_PLUS: "plus"}
_BAG = {"prop_value_is_array": True, "prop_array_is_unordered": True}
_SEQ = {"prop_value_is_array": True, "prop_array_is_ordered": True}

DATA_MINING = {
    "allowed": "DMI-ALLOWED",
    "prohibited_ai_training": "DMI-PROHIBITED-AIMLTRAINING",
    "prohibited": "DMI-PROHIBITED",
    "unspecified": "DMI-UNSPECIFIED",
}
MODEL_RELEASE_STATUS = {
    "unlimited": "MR-UMR",
    "limited": "MR-LMR",
    "none": "MR-NON",
    "not_applicable": "MR-NAP",
}
# XMP's xmpDM:timeFormat names per SMPTE rate; drop-frame where the clock is drop-frame.
TIME_FORMATS = {
    23.976: "23976Timecode",
    24.0: "24Timecode",
    25.0: "25Timecode",
    29.97: "2997DropTimecode",
    30.0: "30Timecode",
    47.952: "23976Timecode",
    48.0: "24Timecode",
    50.0: "50Timecode",
    59.94: "5994DropTimecode",
    60.0: "60Timecode",
}


@dataclass(frozen=True, slots=True)
class TakeContext:
    """What the session knows about a file beyond its sidecar.

    Attributes
    ----------
    rating
        ``circle``, ``ng``, ``hold`` or ``None`` (from the session database; the
        sidecar holds the rating at capture time only).
    notes
        The script supervisor's notes.
    beats
        Beat marks of the take's attempt, on the session clock.
    """

    rating: str | None = None
    notes: str = ""
    beats: tuple[BeatMark, ...] = ()


def label_levels(label: str) -> list[str]:
    """Return a ``/``-separated hierarchical label's levels."""
    return [level for level in label.split("/") if level]


def hierarchical_labels(sidecar: Mapping[str, Any], beats: Iterable[str] = ()) -> list[str]:
    """Return every label of a file as ``|``-joined paths, most general first.

    The axis values (``subject|s01``, ``action|pick_up_glass``, ...) come first,
    then one path per beat under its action, then the action's own labels.
    """
    labels = sidecar["labels"]
    paths = [
        f"{axis}|{labels[axis]}"
        for axis in ("project", "setup", "subject", "action", "angle", "lighting", "camera")
        if axis in labels
    ]
    if "action" in labels:
        paths.extend(f"action|{labels['action']}|{beat}" for beat in beats)
    paths.extend("|".join(label_levels(label)) for label in sidecar["hierarchical_labels"])
    return list(dict.fromkeys(paths))


def _rational(value: float) -> str:
    fraction = Fraction(value).limit_denominator(100000)
    return f"{fraction.numerator}/{fraction.denominator}"


def _frames(seconds: float, rate: float) -> int:
    return round(seconds * rate)


def _beat_durations(beats: Sequence[BeatMark], planned: Mapping[str, float]) -> list[float]:
    """Return each mark's length: up to the next mark, the last one as planned."""
    durations = []
    for index, beat in enumerate(beats):
        if index + 1 < len(beats):
            durations.append(max(beats[index + 1].session_time_s - beat.session_time_s, 0.0))
        else:
            durations.append(planned.get(beat.name, 0.0))
    return durations


_TOOLKIT_LOCK = threading.Lock()
"""Exempi keeps global state (the namespace registry): one packet is built at a time."""


class _Packet:
    """A thin writer over ``XMPMeta`` that skips empty values."""

    def __init__(self) -> None:
        for uri, prefix in _EXTRA_NAMESPACES.items():
            XMPMeta.register_namespace(uri, prefix)
        self.meta = XMPMeta()

    def text(self, ns: str, name: str, value: object) -> None:
        if value is None or value == "":
            return
        self.meta.set_property(ns, name, str(value))

    def array(self, ns: str, name: str, values: Iterable[object], options: dict[str, bool]) -> None:
        for value in values:
            self.meta.append_array_item(ns, name, str(value), options)

    def struct_array(
        self, ns: str, name: str, items: Sequence[Mapping[str, object]], options: dict[str, bool]
    ) -> None:
        for index, item in enumerate(items, start=1):
            self.meta.append_array_item(ns, name, None, options, prop_value_is_struct=True)
            for field, value in item.items():
                self.text(ns, f"{name}[{index}]/xmpDM:{field}", value)


def build_xmp(sidecar: Mapping[str, Any], context: TakeContext) -> str:
    """Return the XMP packet of one media file, serialised by the XMP toolkit."""
    with _TOOLKIT_LOCK:
        return _build_xmp(sidecar, context)


def _build_xmp(sidecar: Mapping[str, Any], context: TakeContext) -> str:
    packet = _Packet()
    camera = sidecar["camera"]
    settings = camera["settings"]
    records = camera["records"]
    capture = sidecar["capture"]
    take = sidecar.get("take")
    beat_names = [beat["name"] for beat in take["action"]["beats"]] if take else []

    paths = hierarchical_labels(sidecar, beat_names)
    levels = dict.fromkeys(level for path in paths for level in path.split("|"))
    packet.array(NS_DC, "subject", levels, _BAG)
    packet.array(NS_LR, "hierarchicalSubject", paths, _BAG)
    packet.text(NS_DC, "format", sidecar["media"]["mime"])

    identity = camera["identity"]
    packet.text(NS_TIFF, "Make", identity["make"])
    packet.text(NS_TIFF, "Model", identity["model"])
    packet.text(NS_TIFF, "ImageWidth", records["resolution"][0])
    packet.text(NS_TIFF, "ImageLength", records["resolution"][1])
    packet.text(NS_EXIF_EX, "BodySerialNumber", identity["serial"])
    packet.text(NS_EXIF_EX, "LensModel", records["lens"])
    if isinstance(settings.get("shutter_s"), int | float):
        packet.text(NS_EXIF, "ExposureTime", _rational(settings["shutter_s"]))
    if isinstance(settings.get("aperture_f"), int | float):
        packet.text(NS_EXIF, "FNumber", _rational(settings["aperture_f"]))
    if isinstance(settings.get("iso"), int | float):
        packet.array(NS_EXIF, "ISOSpeedRatings", [int(settings["iso"])], _SEQ)
    focal = settings.get("focal_length_mm", records["focal_length_mm"])
    if isinstance(focal, int | float):
        packet.text(NS_EXIF, "FocalLength", _rational(focal))
    if "white_balance" in settings:
        # EXIF WhiteBalance: 0 auto, 1 manual.
        packet.text(NS_EXIF, "WhiteBalance", 0 if settings["white_balance"] == "auto" else 1)
    packet.text(NS_EXIF, "DateTimeOriginal", capture["started_at"])
    if isinstance(settings.get("white_balance_k"), int | float):
        packet.text(NS_CRS, "Temperature", round(settings["white_balance_k"]))
    if isinstance(settings.get("tint"), int | float):
        packet.text(NS_CRS, "Tint", round(settings["tint"]))
    packet.text(NS_CRS, "CameraProfile", records["picture_profile"])

    rate = float(capture["timecode_rate"])
    packet.text(NS_DM, "cameraLabel", camera["id"])
    packet.text(NS_DM, "cameraAngle", camera["angle"])
    packet.text(NS_DM, "startTimecode/xmpDM:timeFormat", TIME_FORMATS[rate])
    packet.text(NS_DM, "startTimecode/xmpDM:timeValue", capture["timecode"])
    if take is None:
        reference = sidecar["reference"]
        packet.text(NS_DM, "scene", reference["setup_id"])
        packet.text(NS_DM, "shotName", reference["reference_id"])
        packet.text(NS_DM, "logComment", "reference frame: ColorChecker and grey card")
        return str(packet.meta.serialize_to_str(omit_packet_wrapper=True))

    packet.text(NS_DM, "scene", take["setup_id"])
    packet.text(NS_DM, "shotName", take["take_id"])
    packet.text(NS_DM, "takeNumber", take["repetition"])
    if context.rating in ("circle", "ng"):
        packet.text(NS_DM, "good", "True" if context.rating == "circle" else "False")
    comment = [f"attempt {take['attempt']}"]
    if context.rating:
        comment.append(f"rated {context.rating}")
    qc = sidecar.get("qc") or {}
    if qc.get("verdict"):
        comment.append(f"QC {qc['verdict']}")
    if context.notes:
        comment.append(context.notes)
    packet.text(NS_DM, "logComment", "; ".join(comment))

    planned = {beat["name"]: float(beat["duration_s"]) for beat in take["action"]["beats"]}
    take_start_s = float(capture["session_start_s"])
    markers = [
        {
            "name": beat.name,
            "startTime": _frames(beat.session_time_s - take_start_s, rate),
            "duration": _frames(duration, rate),
            "type": "Cue",
            "comment": "; ".join(
                part
                for part in (
                    f"{beat.session_time_s - take_start_s:.3f} s into the take",
                    f"timecode {beat.timecode}",
                    beat.note,
                )
                if part
            ),
        }
        for beat, duration in zip(
            context.beats, _beat_durations(context.beats, planned), strict=True
        )
    ]
    packet.struct_array(NS_DM, "markers", markers, _SEQ)

    consent = take["subject"]["consent"]
    packet.text(NS_PLUS, "DataMining", PLUS_VOCAB + DATA_MINING[consent["data_mining"]])
    packet.text(NS_PLUS, "ModelReleaseStatus", PLUS_VOCAB + MODEL_RELEASE_STATUS[consent["status"]])
    if consent["release_id"]:
        packet.array(NS_PLUS, "ModelReleaseID", [consent["release_id"]], _BAG)
    return str(packet.meta.serialize_to_str(omit_packet_wrapper=True))


def xmp_path_for(media_relative_path: str) -> str:
    """Return the Adobe-convention sidecar name: the media's basename with ``.xmp``."""
    return PurePosixPath(media_relative_path).with_suffix(".xmp").as_posix()
