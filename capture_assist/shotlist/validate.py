"""Checks that need the whole shot list: ids, references, axes, the naming template.

Each check yields ``(location, message)`` where the location is a key path into
the YAML document; :mod:`capture_assist.shotlist.loader` turns it into a line
and column.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TypeAlias

from capture_assist.shotlist.matrix import expand
from capture_assist.shotlist.model import Axis, ShotList
from capture_assist.shotlist.naming import id_problem, template_fields, template_problem

Location: TypeAlias = tuple[str | int, ...]
Finding: TypeAlias = tuple[Location, str]

_ID_SECTIONS = ("subjects", "actions", "angles", "lighting", "cameras")
_AXIS_SECTION = {
    Axis.SUBJECT: "subjects",
    Axis.ACTION: "actions",
    Axis.ANGLE: "angles",
    Axis.LIGHTING: "lighting",
}


def _ids(shotlist: ShotList, section: str) -> list[str]:
    return [item.id for item in getattr(shotlist, section)]


def _check_ids(shotlist: ShotList) -> Iterator[Finding]:
    if problem := id_problem(shotlist.project.id):
        yield ("project", "id"), problem
    for section in _ID_SECTIONS:
        items = getattr(shotlist, section)
        if not items:
            yield (section,), f"is empty; list at least one entry under '{section}'"
        seen: dict[str, int] = {}
        for position, item in enumerate(items):
            if problem := id_problem(item.id):
                yield (section, position, "id"), problem
            if item.id in seen:
                yield (
                    (section, position, "id"),
                    f"duplicate id {item.id!r}: already used by {section}[{seen[item.id]}]",
                )
            else:
                seen[item.id] = position
    for a_index, action in enumerate(shotlist.actions):
        names: set[str] = set()
        for b_index, beat in enumerate(action.beats):
            location: Location = ("actions", a_index, "beats", b_index, "name")
            if problem := id_problem(beat.name):
                yield location, problem
            if beat.name in names:
                yield location, f"duplicate beat name {beat.name!r} in action {action.id!r}"
            names.add(beat.name)
        for l_index, label in enumerate(action.labels):
            levels = label.split("/")
            if any(not level.strip() for level in levels):
                yield (
                    ("actions", a_index, "labels", l_index),
                    f"label {label!r} has an empty level; "
                    "write levels like interaction/grasp/glass",
                )


def _check_cameras(shotlist: ShotList) -> Iterator[Finding]:
    angle_ids = set(_ids(shotlist, "angles"))
    moving_counts: dict[int, str] = {}
    covered: set[str] = set()
    for c_index, camera in enumerate(shotlist.cameras):
        for a_index, angle in enumerate(camera.angles):
            covered.add(angle)
            if angle not in angle_ids:
                yield (
                    ("cameras", c_index, "angles", a_index),
                    f"unknown angle {angle!r}; defined angles: {', '.join(sorted(angle_ids))}",
                )
        if len(camera.angles) > 1:
            moving_counts.setdefault(len(camera.angles), camera.id)
    if len(moving_counts) > 1:
        described = ", ".join(f"{cam!r} has {n}" for n, cam in sorted(moving_counts.items()))
        yield (
            ("cameras",),
            "cameras that move must cover the same number of angles (one per placement): "
            + described,
        )
    for a_index, defined in enumerate(shotlist.angles):
        if defined.id not in covered:
            yield (
                ("angles", a_index, "id"),
                f"angle {defined.id!r} is covered by no camera; add it to a camera's angles "
                "or remove it",
            )


def _check_order(shotlist: ShotList) -> Iterator[Finding]:
    counts = Counter(shotlist.order)
    for axis, count in counts.items():
        if count > 1:
            yield ("order",), f"axis {axis.value!r} is listed {count} times"
    missing = [axis.value for axis in Axis if axis not in counts]
    if missing:
        yield (
            ("order",),
            f"must list every axis once (outermost first); missing: {', '.join(missing)}",
        )


def _check_skip(shotlist: ShotList) -> Iterator[Finding]:
    known = {axis: set(_ids(shotlist, section)) for axis, section in _AXIS_SECTION.items()}
    known[Axis.REPETITION] = {str(n) for n in range(1, shotlist.repetitions + 1)}
    for r_index, rule in enumerate(shotlist.skip):
        for axis in Axis:
            wanted = rule.values(axis)
            if wanted is None:
                continue
            for value in sorted(wanted - known[axis]):
                yield (
                    ("skip", r_index, axis.value),
                    f"unknown {axis.value} {value!r}; defined: {', '.join(sorted(known[axis]))}",
                )


def _naming_hint(shotlist: ShotList) -> str:
    present = set(template_fields(shotlist.naming))
    if "take_id" in present:
        present |= {"subject", "action", "angle", "lighting", "repetition"}
    sizes = {
        "subject": len(shotlist.subjects),
        "action": len(shotlist.actions),
        "angle": len(shotlist.angles),
        "lighting": len(shotlist.lighting),
        "repetition": shotlist.repetitions,
        "camera": len(shotlist.cameras),
    }
    missing = [name for name, size in sizes.items() if size > 1 and name not in present]
    if not missing:
        return "add {take_id} and {camera}"
    return "add " + " and ".join("{" + name + "}" for name in missing)


def _check_naming(shotlist: ShotList) -> Iterator[Finding]:
    if problem := template_problem(shotlist.naming):
        yield ("naming",), problem
        return
    matrix = expand(shotlist)
    if not matrix.takes:
        yield ("skip",), "the skip rules leave no take to shoot"
        return
    owners: dict[str, str] = {}
    for take in matrix.takes:
        for file in take.files:
            path = take.relative_path(
                shotlist.naming, shotlist.project.id, file.camera_id, file.angle_id
            )
            # Case-insensitive file systems (macOS, Windows) would merge these too.
            key = path.casefold()
            owner = f"take {take.take_id} camera {file.camera_id}"
            if key in owners:
                yield (
                    ("naming",),
                    f"gives two files the same path {path!r} ({owners[key]} and {owner}); "
                    + _naming_hint(shotlist),
                )
                return
            owners[key] = owner


def find_problems(shotlist: ShotList) -> list[Finding]:
    """Return every cross-reference problem of a structurally valid shot list."""
    findings = [
        *_check_ids(shotlist),
        *_check_cameras(shotlist),
        *_check_order(shotlist),
        *_check_skip(shotlist),
    ]
    if not findings:
        # The expansion needs sound ids, cameras and order to mean anything.
        findings.extend(_check_naming(shotlist))
    return findings
