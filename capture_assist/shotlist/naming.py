"""The output naming template: labels in, a safe relative path out."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping

PLACEHOLDERS = frozenset(
    {
        "project",
        "setup",
        "take_id",
        "subject",
        "action",
        "angle",
        "lighting",
        "repetition",
        "camera",
        "attempt",
    }
)

_UNSAFE_ID = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|\s]")


def id_problem(value: str) -> str | None:
    """Return why ``value`` is unsafe as a file-name component, or ``None`` when it is safe."""
    if value in (".", "..") or ".." in value:
        return f"{value!r} contains '..', which would climb out of the output folder"
    match = _UNSAFE_ID.search(value)
    if match:
        char = match.group()
        shown = {" ": "a space", "/": "'/'", "\\": "'\\'"}.get(char, repr(char))
        return f"{value!r} contains {shown}; ids become file names: use letters, digits, - _ ."
    if value.startswith(("-", ".")):
        return f"{value!r} starts with {value[0]!r}; start ids with a letter or digit"
    return None


def template_fields(template: str) -> list[str]:
    """Return the placeholder names of ``template`` in order.

    Raises
    ------
    ValueError
        When the template is not a valid format string.
    """
    names = []
    for _literal, field_name, _spec, _conversion in string.Formatter().parse(template):
        if field_name is None:
            continue
        if field_name == "":
            raise ValueError(
                "empty placeholder '{}'; name one of " + ", ".join(sorted(PLACEHOLDERS))
            )
        names.append(field_name)
    return names


def template_problem(template: str) -> str | None:
    """Return what is wrong with a naming template on its own, or ``None``."""
    try:
        names = template_fields(template)
    except ValueError as error:
        return str(error)
    unknown = [name for name in names if name not in PLACEHOLDERS]
    if unknown:
        return f"unknown placeholder {{{unknown[0]}}}; use " + ", ".join(
            "{" + p + "}" for p in sorted(PLACEHOLDERS)
        )
    if template.startswith("/") or template.strip() == "":
        return "the template must be a relative path, e.g. {lighting}/{angle}/{take_id}_{camera}"
    parts = template.replace("\\", "/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "the template may not contain empty, '.' or '..' path parts"
    return None


def render_relative_path(template: str, values: Mapping[str, object]) -> str:
    """Fill ``template`` with ``values`` and return a POSIX relative path without extension.

    When the template does not mention ``{attempt}``, attempts after the first get an
    ``_aNN`` suffix so a retake never overwrites the files of an earlier attempt.
    """
    attempt = int(str(values.get("attempt", 1)))
    path = template.format_map(dict(values))
    if "attempt" not in template_fields(template) and attempt > 1:
        path = f"{path}_a{attempt:02d}"
    return path
