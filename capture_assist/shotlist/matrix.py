"""Pure expansion of a shot list into setups and takes.

Ids are built from the labels, never from positions, so re-running the same YAML
gives the same ids and adding a subject or an action does not renumber takes
that were already shot.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from capture_assist.shotlist.model import SETUP_AXES, Axis, ShotList
from capture_assist.shotlist.naming import render_relative_path


@dataclass(frozen=True, slots=True)
class Placement:
    """Where every camera stands for one value of the angle axis.

    Attributes
    ----------
    id
        The angles joined by ``+`` (cameras in shot-list order, repeats removed).
    camera_angles
        ``(camera_id, angle_id)`` per camera.
    """

    id: str
    camera_angles: tuple[tuple[str, str], ...]

    @property
    def angle_ids(self) -> frozenset[str]:
        """Every angle covered in this placement."""
        return frozenset(angle for _camera, angle in self.camera_angles)


@dataclass(frozen=True, slots=True)
class TakeFile:
    """One camera's file of a take."""

    camera_id: str
    angle_id: str


@dataclass(frozen=True, slots=True)
class Take:
    """One repetition of one action by one subject, recorded by every camera at once."""

    take_id: str
    setup_id: str
    index: int
    subject: str
    action: str
    placement: Placement
    lighting: str
    repetition: int
    files: tuple[TakeFile, ...]

    def labels(self) -> dict[str, str | int]:
        """Return the take's value on every axis (``angle`` is the placement id)."""
        return {
            "subject": self.subject,
            "action": self.action,
            "angle": self.placement.id,
            "lighting": self.lighting,
            "repetition": self.repetition,
        }

    def relative_path(
        self, template: str, project: str, camera_id: str, angle_id: str, attempt: int = 1
    ) -> str:
        """Return the file's relative path (no extension) for one camera and attempt."""
        return render_relative_path(
            template,
            {
                "project": project,
                "setup": self.setup_id,
                "take_id": self.take_id,
                "subject": self.subject,
                "action": self.action,
                "angle": angle_id,
                "lighting": self.lighting,
                "repetition": f"{self.repetition:02d}",
                "camera": camera_id,
                "attempt": f"{attempt:02d}",
            },
        )


@dataclass(frozen=True, slots=True)
class Setup:
    """One state of the physical set; it opens with a reference frame.

    Attributes
    ----------
    setup_id
        Stable id: the values of the axes down to the innermost setup axis.
    index
        Position in shooting order, from 0.
    lighting
        The lighting setup's id.
    placement
        Where the cameras stand.
    takes
        The setup's takes in shooting order.
    """

    setup_id: str
    index: int
    lighting: str
    placement: Placement
    takes: tuple[Take, ...]

    @property
    def reference_id(self) -> str:
        """Id of the setup's reference-frame step (ColorChecker + grey card)."""
        return f"{self.setup_id}.reference"


@dataclass(frozen=True)
class TakeMatrix:
    """Setups and takes in shooting order."""

    setups: tuple[Setup, ...]
    skipped: int
    takes: tuple[Take, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "takes", tuple(take for setup in self.setups for take in setup.takes)
        )

    @cached_property
    def by_id(self) -> Mapping[str, Take]:
        """Takes by id."""
        return {take.take_id: take for take in self.takes}

    @cached_property
    def setups_by_id(self) -> Mapping[str, Setup]:
        """Setups by id."""
        return {setup.setup_id: setup for setup in self.setups}


def placements(shotlist: ShotList) -> tuple[Placement, ...]:
    """Return the placements: cameras with one angle stay, the others move in step."""
    count = max(len(camera.angles) for camera in shotlist.cameras)
    result = []
    for position in range(count):
        camera_angles = tuple(
            (camera.id, camera.angles[position if len(camera.angles) > 1 else 0])
            for camera in shotlist.cameras
        )
        unique_angles = dict.fromkeys(angle for _camera, angle in camera_angles)
        result.append(Placement("+".join(unique_angles), camera_angles))
    return tuple(result)


def _axis_values(shotlist: ShotList) -> dict[Axis, tuple[object, ...]]:
    return {
        Axis.SUBJECT: tuple(subject.id for subject in shotlist.subjects),
        Axis.ACTION: tuple(action.id for action in shotlist.actions),
        Axis.ANGLE: placements(shotlist),
        Axis.LIGHTING: tuple(lighting.id for lighting in shotlist.lighting),
        Axis.REPETITION: tuple(range(1, shotlist.repetitions + 1)),
    }


def make_take_id(subject: str, action: str, placement: str, lighting: str, repetition: int) -> str:
    """Return the stable take id; its parts come in a fixed order whatever the axis order."""
    return f"{subject}.{action}.{placement}.{lighting}.r{repetition:02d}"


def _label(value: object) -> str:
    if isinstance(value, Placement):
        return value.id
    if isinstance(value, int):
        return f"r{value:02d}"
    return str(value)


def _iter_combinations(shotlist: ShotList) -> Iterator[dict[Axis, object]]:
    values = _axis_values(shotlist)
    for combination in itertools.product(*(values[axis] for axis in shotlist.order)):
        yield dict(zip(shotlist.order, combination, strict=True))


def _is_skipped(shotlist: ShotList, combination: Mapping[Axis, object]) -> bool:
    for rule in shotlist.skip:
        matched = True
        for axis in Axis:
            wanted = rule.values(axis)
            if wanted is None:
                continue
            value = combination[axis]
            if isinstance(value, Placement):
                hit = bool(wanted & (value.angle_ids | {value.id}))
            else:
                hit = str(value) in wanted
            if not hit:
                matched = False
                break
        if matched:
            return True
    return False


def expand(shotlist: ShotList) -> TakeMatrix:
    """Expand ``shotlist`` into setups and takes, following its order and skip rules.

    A new setup starts whenever the lighting or the placement changes, and also
    whenever an axis outside them changes (e.g. subject outermost: each subject
    walks through every setup again and each visit needs its own reference frame).
    """
    innermost_setup_position = max(
        position for position, axis in enumerate(shotlist.order) if axis in SETUP_AXES
    )
    setup_axes = shotlist.order[: innermost_setup_position + 1]
    setups: list[Setup] = []
    current_key: tuple[str, ...] | None = None
    current_takes: list[Take] = []
    current_setup: tuple[str, str, Placement] | None = None
    skipped = 0
    index = 0

    def close_setup() -> None:
        if current_setup is not None and current_takes:
            setup_id, lighting, placement = current_setup
            setups.append(Setup(setup_id, len(setups), lighting, placement, tuple(current_takes)))

    for combination in _iter_combinations(shotlist):
        if _is_skipped(shotlist, combination):
            skipped += 1
            continue
        key = tuple(_label(combination[axis]) for axis in setup_axes)
        placement = combination[Axis.ANGLE]
        assert isinstance(placement, Placement)
        lighting = str(combination[Axis.LIGHTING])
        if key != current_key:
            close_setup()
            current_key = key
            current_takes = []
            current_setup = (".".join(key), lighting, placement)
        subject = str(combination[Axis.SUBJECT])
        action = str(combination[Axis.ACTION])
        repetition = combination[Axis.REPETITION]
        assert isinstance(repetition, int)
        take = Take(
            take_id=make_take_id(subject, action, placement.id, lighting, repetition),
            setup_id=".".join(key),
            index=index,
            subject=subject,
            action=action,
            placement=placement,
            lighting=lighting,
            repetition=repetition,
            files=tuple(TakeFile(camera, angle) for camera, angle in placement.camera_angles),
        )
        current_takes.append(take)
        index += 1
    close_setup()
    return TakeMatrix(tuple(setups), skipped)
