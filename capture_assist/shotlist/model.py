"""Shot list format v1: frozen pydantic models a person writes by hand in YAML.

Every model forbids unknown keys so a typo is an error naming its line, never
silently ignored. Cross-references (a camera's angles, skip rules, ...) are
checked in :mod:`capture_assist.shotlist.validate`, which knows the whole list.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

SCHEMA_VERSION = 1

Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
CameraSettings = dict[Annotated[str, StringConstraints(min_length=1)], str | int | float]
"""Camera settings by their libgphoto2 names, e.g. ``{iso: 400, colortemperature: 5600}``."""
"""An identifier; its file-name safety is checked with a precise message in ``validate``."""

Label = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class Strict(BaseModel):
    """Base for every shot-list model: immutable, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Axis(StrEnum):
    """The axes of the take matrix."""

    SUBJECT = "subject"
    ACTION = "action"
    ANGLE = "angle"
    LIGHTING = "lighting"
    REPETITION = "repetition"


SETUP_AXES = frozenset({Axis.ANGLE, Axis.LIGHTING})
"""Axes whose change means changing the physical set (a new setup)."""

DEFAULT_ORDER = (Axis.LIGHTING, Axis.ANGLE, Axis.SUBJECT, Axis.ACTION, Axis.REPETITION)


class Project(Strict):
    """Who the dataset is for."""

    id: Id
    title: str = ""
    client: str = ""


class DataMining(StrEnum):
    """PLUS data-mining permission, written to each file's XMP."""

    ALLOWED = "allowed"
    PROHIBITED_AI_TRAINING = "prohibited_ai_training"
    PROHIBITED = "prohibited"
    UNSPECIFIED = "unspecified"


class ReleaseStatus(StrEnum):
    """PLUS model-release status."""

    UNLIMITED = "unlimited"
    LIMITED = "limited"
    NONE = "none"
    NOT_APPLICABLE = "not_applicable"


class Consent(Strict):
    """The subject's consent and model release, as the ML team must see it."""

    release_id: str = Field("", description="Model-release document reference.")
    status: ReleaseStatus = ReleaseStatus.NONE
    data_mining: DataMining = DataMining.UNSPECIFIED

    @model_validator(mode="after")
    def _release_needs_reference(self) -> Consent:
        if self.status in (ReleaseStatus.UNLIMITED, ReleaseStatus.LIMITED) and not self.release_id:
            raise ValueError("a signed release (unlimited or limited) needs its release_id")
        return self


class Subject(Strict):
    """A person (or thing) performing actions."""

    id: Id
    description: str = ""
    consent: Consent = Consent()


class Beat(Strict):
    """A named moment of an action, marked by the script supervisor."""

    name: Id
    duration_s: float | None = Field(None, gt=0, description="Expected length of the beat.")
    description: str = ""


class Action(Strict):
    """What the subject does in a take."""

    id: Id
    description: str = ""
    labels: tuple[Label, ...] = Field(
        (), description="Hierarchical labels, levels separated by '/', e.g. interaction/grasp/glass"
    )
    beats: tuple[Beat, ...] = ()
    expected_duration_s: float = Field(10.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _beats_fit(self) -> Action:
        known = [b.duration_s for b in self.beats if b.duration_s is not None]
        if sum(known) > self.expected_duration_s + 1e-9:
            raise ValueError(
                f"beats last {sum(known):g} s, longer than expected_duration_s "
                f"{self.expected_duration_s:g} s"
            )
        return self

    def beat_schedule(self) -> tuple[tuple[str, float, float], ...]:
        """Return ``(name, start_s, duration_s)`` per beat over the expected duration.

        Beats without a duration share the time the others leave equally.
        """
        if not self.beats:
            return ()
        known = sum(b.duration_s for b in self.beats if b.duration_s is not None)
        unknown = sum(1 for b in self.beats if b.duration_s is None)
        share = (self.expected_duration_s - known) / unknown if unknown else 0.0
        schedule = []
        start = 0.0
        for beat in self.beats:
            length = beat.duration_s if beat.duration_s is not None else share
            schedule.append((beat.name, start, length))
            start += length
        return tuple(schedule)


class Angle(Strict):
    """A camera position relative to the subject."""

    id: Id
    description: str = ""
    height_m: float | None = Field(None, ge=0, le=20)
    distance_m: float | None = Field(None, gt=0, le=100)
    tilt_deg: float | None = Field(None, ge=-90, le=90)


class Lighting(Strict):
    """A lighting setup; its target colour temperature is the white-balance truth."""

    id: Id
    cct_k: float = Field(..., ge=1500, le=15000, description="Target colour temperature in K.")
    description: str = ""
    camera_settings: CameraSettings = Field(
        default_factory=dict,
        description="Set on every camera at the start of each setup under this lighting "
        "(e.g. lock the white balance: {whitebalance: Kelvin, colortemperature: 5600}).",
    )


class SimSource(Strict):
    """The built-in simulated set."""

    kind: Literal["sim"] = "sim"
    seed: int = 0


class Gphoto2Source(Strict):
    """A camera tethered through libgphoto2, found by serial, port or model."""

    kind: Literal["gphoto2"]
    serial: str = ""
    port: str = Field("", description="e.g. usb:001,004 or ptpip:192.168.1.20")
    model: str = ""

    @model_validator(mode="after")
    def _findable(self) -> Gphoto2Source:
        if not (self.serial or self.port or self.model):
            raise ValueError("say how to find the camera: serial, port or model")
        return self


class OpencvSource(Strict):
    """A capture card, video file or network stream read through OpenCV."""

    kind: Literal["opencv"]
    device: int | str = Field(..., description="Device index, /dev/videoN, file path or URL.")
    fourcc: str = Field(
        "", max_length=4, description="Pixel format to ask a capture card for, e.g. MJPG, YUYV."
    )


Source = Annotated[SimSource | Gphoto2Source | OpencvSource, Field(discriminator="kind")]


class Records(Strict):
    """What the camera records; the ML team needs it to interpret colour."""

    kind: Literal["still", "video"] = "still"
    resolution: tuple[Annotated[int, Field(gt=0, le=16384)], Annotated[int, Field(gt=0, le=16384)]]
    frame_rate: float = Field(25.0, gt=0, le=240)
    picture_profile: str = Field("", description="e.g. S-Log3, HLG, Standard, RAW")
    gamma: str = ""
    colour_space: str = Field("", description="e.g. S-Gamut3.Cine, Rec.709, Rec.2020")
    file_format: str = Field("", description="e.g. JPEG, NEF, XAVC S; informational")
    lens: str = ""
    focal_length_mm: float | None = Field(None, gt=0, le=2000)


class Camera(Strict):
    """One camera (or capture source) of the set."""

    id: Id
    source: Source = SimSource()
    angles: tuple[Id, ...] = Field(
        ...,
        min_length=1,
        description="The angles this camera covers, one per placement, in shooting order.",
    )
    records: Records
    settings: CameraSettings = Field(
        default_factory=dict,
        description="Set at the start of every setup, so a knocked dial or a replugged "
        "body is put back (e.g. {iso: 400, shutterspeed: 1/125, f-number: f/5.6}).",
    )


class SkipRule(Strict):
    """A combination that makes no sense; a take matching every given key is skipped."""

    subject: Id | tuple[Id, ...] | None = None
    action: Id | tuple[Id, ...] | None = None
    angle: Id | tuple[Id, ...] | None = None
    lighting: Id | tuple[Id, ...] | None = None
    repetition: int | tuple[int, ...] | None = None
    reason: str = ""

    @model_validator(mode="after")
    def _not_empty(self) -> SkipRule:
        if all(getattr(self, axis.value) is None for axis in Axis):
            raise ValueError("a skip rule must name at least one of " + ", ".join(Axis))
        return self

    def values(self, axis: Axis) -> frozenset[str] | None:
        """Return the values this rule matches on ``axis`` (``None``: any)."""
        raw = getattr(self, axis.value)
        if raw is None:
            return None
        items = raw if isinstance(raw, tuple) else (raw,)
        return frozenset(str(item) for item in items)


class Tolerance(Strict):
    """Warn and fail thresholds of one metric (absolute values)."""

    warn: float = Field(..., ge=0)
    fail: float = Field(..., ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Tolerance:
        if self.fail < self.warn:
            raise ValueError(f"fail ({self.fail:g}) must not be below warn ({self.warn:g})")
        return self


class QcTolerances(Strict):
    """How far a take may stray from its setup's reference before it warns or fails."""

    exposure_ev: Tolerance = Tolerance(warn=0.15, fail=0.33)
    white_balance_mired: Tolerance = Tolerance(warn=5.0, fail=10.0)
    clipping_percent: Tolerance = Tolerance(warn=0.1, fail=1.0)
    framing_drift_px: Tolerance = Tolerance(warn=2.0, fail=5.0)
    shake_px: Tolerance = Tolerance(warn=0.5, fail=1.5)
    sharpness_drop_percent: Tolerance = Tolerance(warn=10.0, fail=25.0)
    hold_recording_while_unstable: bool = False


class Timing(Strict):
    """Crew time estimates used for the shooting-time summary."""

    take_overhead_s: float = Field(20.0, ge=0, description="Slate, reset and checks per take.")
    reference_frame_s: float = Field(60.0, ge=0, description="Chart and grey card per setup.")
    setup_change_s: float = Field(600.0, ge=0, description="Relight or move cameras.")


DEFAULT_NAMING = "{lighting}/{angle}/{subject}/{action}/{take_id}_{camera}"


class ShotList(Strict):
    """A whole shot list, format v1."""

    version: Literal[1] = 1
    project: Project
    subjects: tuple[Subject, ...]
    actions: tuple[Action, ...]
    angles: tuple[Angle, ...]
    lighting: tuple[Lighting, ...]
    repetitions: int = Field(1, ge=1, le=999)
    cameras: tuple[Camera, ...]
    order: tuple[Axis, ...] = DEFAULT_ORDER
    skip: tuple[SkipRule, ...] = ()
    qc: QcTolerances = QcTolerances()
    timing: Timing = Timing()
    naming: str = Field(
        DEFAULT_NAMING,
        description=(
            "Relative path of each file without extension; placeholders "
            "{project} {setup} {take_id} {subject} {action} {angle} {lighting} "
            "{repetition} {camera} {attempt}"
        ),
    )
    delete_from_card: bool = Field(False, description="Delete stills from the camera's card.")
