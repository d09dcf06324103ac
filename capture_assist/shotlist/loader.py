"""Read a YAML shot list into a validated model, or into errors a person can act on.

Every problem names the file, line, column, key path and what was expected.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from capture_assist.shotlist.model import ShotList, Source
from capture_assist.shotlist.validate import Location, find_problems


@dataclass(frozen=True, slots=True)
class ShotListProblem:
    """One thing wrong with a shot list, located in its file (line and column from 1)."""

    file: str
    line: int
    column: int
    key_path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return (
            f"{where}: {self.key_path}: {self.message}"
            if self.key_path
            else f"{where}: {self.message}"
        )


class ShotListError(ValueError):
    """A shot list that cannot be used; ``problems`` lists every one found."""

    def __init__(self, problems: Sequence[ShotListProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


@dataclass(frozen=True, slots=True)
class LoadedShotList:
    """A validated shot list and where it came from."""

    model: ShotList
    path: Path
    sha256: str


def _plain(node: Any) -> Any:
    """Turn ruamel's round-trip containers and scalars into plain Python values."""
    if isinstance(node, dict):
        return {str(key): _plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_plain(item) for item in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def _describe_location(root: Any, location: Location) -> str:
    parts: list[str] = []
    node = root
    for part in location:
        if isinstance(part, int):
            label = f"[{part}]"
            if isinstance(node, list) and 0 <= part < len(node):
                node = node[part]
                if isinstance(node, dict) and "id" in node:
                    label = f"[{part}](id={node['id']})"
            else:
                node = None
            parts.append(label)
        else:
            parts.append(("." if parts else "") + part)
            node = node.get(part) if isinstance(node, dict) else None
    return "".join(parts)


def _position(root: Any, location: Location) -> tuple[int, int]:
    """Return the 1-based line and column of the deepest node of ``location`` in the YAML."""
    line, column = 0, 0
    node = root
    for part in location:
        if isinstance(node, CommentedMap) and isinstance(part, str) and part in node:
            line, column = node.lc.key(part)
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line, column = node.lc.item(part)
            node = node[part]
        elif isinstance(node, CommentedMap | CommentedSeq) and isinstance(part, str):
            # A discriminator tag or a missing key: stay at the enclosing node.
            line, column = node.lc.line, node.lc.col
            continue
        else:
            break
    return line + 1, column + 1


def _unwrap(annotation: Any) -> list[Any]:
    """Return the concrete classes an annotation may hold (through Annotated, unions, tuples)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [cls for arg in typing.get_args(annotation) for cls in _unwrap(arg)]
    if origin is tuple:
        return [
            cls
            for arg in typing.get_args(annotation)
            if arg is not Ellipsis
            for cls in _unwrap(arg)
        ]
    return [annotation]


def _model_at(location: Location) -> type[BaseModel] | None:
    """Return the model class describing the mapping at ``location``, if one does."""
    candidates: list[Any] = [ShotList]
    for part in location:
        if isinstance(part, int):
            continue
        next_candidates: list[Any] = []
        for candidate in candidates:
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                if part in candidate.model_fields:
                    next_candidates.extend(_unwrap(candidate.model_fields[part].annotation))
                else:
                    kind_field = candidate.model_fields.get("kind")
                    if kind_field is not None and part in typing.get_args(kind_field.annotation):
                        next_candidates.append(candidate)
        candidates = next_candidates or candidates
        # A discriminator tag selects one member of a union.
        tagged = [
            c
            for c in candidates
            if isinstance(c, type)
            and issubclass(c, BaseModel)
            and "kind" in c.model_fields
            and part in typing.get_args(c.model_fields["kind"].annotation)
        ]
        if tagged:
            candidates = tagged
    models = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
    return models[0] if len(models) == 1 else None


def _message(error: Any, location: Location) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(location[-1])
        model = _model_at(location[:-1])
        allowed = sorted(model.model_fields) if model else []
        hint = difflib.get_close_matches(key, allowed, n=1)
        text = f"unknown key {key!r}"
        if hint:
            text += f"; did you mean {hint[0]!r}?"
        if allowed:
            text += f" Expected one of: {', '.join(allowed)}"
        return text
    if kind == "missing":
        return f"missing required key {location[-1]!r}"
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    value = error.get("input")
    if kind not in ("model_type", "dict_type") and isinstance(value, str | int | float):
        message += f" (got {value!r})"
    return message


def _error_location(error: Any) -> Location:
    # Pydantic adds the union member's tag ("sim", "gphoto2", ...) and the
    # tuple position; the YAML needs neither the tag nor function-validator names.
    return tuple(part for part in error["loc"] if not (isinstance(part, str) and "[" in part))


def parse_shotlist(text: str, file: str = "<shot list>") -> ShotList:
    """Parse and validate shot-list YAML text.

    Raises
    ------
    ShotListError
        With every problem found, each naming file, line, column and key path.
    """
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        root = yaml.load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        column = mark.column + 1 if mark else 1
        what = " ".join(part for part in (error.context, error.problem) if part)
        raise ShotListError(
            [ShotListProblem(file, line, column, "", f"YAML syntax error: {what}")]
        ) from None
    if not isinstance(root, CommentedMap):
        raise ShotListError(
            [ShotListProblem(file, 1, 1, "", "expected a mapping with keys project, subjects, ...")]
        )
    try:
        shotlist = ShotList.model_validate(_plain(root))
    except pydantic.ValidationError as error:
        problems = []
        for item in error.errors():
            location = _error_location(item)
            line, column = _position(root, location)
            problems.append(
                ShotListProblem(
                    file, line, column, _describe_location(root, location), _message(item, location)
                )
            )
        raise ShotListError(sorted(problems, key=lambda p: (p.line, p.column))) from None
    findings = find_problems(shotlist)
    if findings:
        problems = []
        for location, message in findings:
            line, column = _position(root, location)
            problems.append(
                ShotListProblem(file, line, column, _describe_location(root, location), message)
            )
        raise ShotListError(sorted(problems, key=lambda p: (p.line, p.column)))
    return shotlist


def load_shotlist(path: Path | str) -> LoadedShotList:
    """Read, parse and validate a shot-list file.

    Raises
    ------
    ShotListError
        When the file cannot be read or is not a valid shot list.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ShotListError(
            [ShotListProblem(str(path), 1, 1, "", f"cannot read the file: {error.strerror}")]
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ShotListError(
            [ShotListProblem(str(path), 1, 1, "", f"not UTF-8 text (byte {error.start})")]
        ) from None
    model = parse_shotlist(text, str(path))
    return LoadedShotList(model, path, hashlib.sha256(data).hexdigest())


def with_camera_sources(loaded: LoadedShotList, specs: Sequence[str]) -> LoadedShotList:
    """Return ``loaded`` with camera sources replaced as ``ID=KIND[:KEY=VALUE,...]`` says.

    Raises
    ------
    ValueError
        When a spec names no camera of the list or describes no valid source.
    """
    cameras = {camera.id: camera for camera in loaded.model.cameras}
    for spec in specs:
        camera_id, _, source_text = spec.partition("=")
        if camera_id not in cameras or not source_text:
            raise ValueError(
                f"--camera {spec!r}: expected ID=KIND[:KEY=VALUE,...] with ID one of "
                + ", ".join(cameras)
            )
        kind, _, options = source_text.partition(":")
        fields: dict[str, object] = {"kind": kind}
        for option in filter(None, options.split(",")):
            key, _, value = option.partition("=")
            fields[key] = value
        try:
            source = pydantic.TypeAdapter(Source).validate_python(fields)
        except pydantic.ValidationError as error:
            problems = "; ".join(str(item["msg"]) for item in error.errors())
            raise ValueError(f"--camera {spec!r}: {problems}") from None
        cameras[camera_id] = cameras[camera_id].model_copy(update={"source": source})
    if not specs:
        return loaded
    model = loaded.model.model_copy(update={"cameras": tuple(cameras.values())})
    return dataclasses.replace(loaded, model=model)
