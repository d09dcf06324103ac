"""Deliver a session: verified copies to one or two destinations, with an ASC MHL history each.

Every source file is read once: its SHA-256 is checked against the sidecar and
the session database while the same bytes are written to every destination
under a temporary name. Each copy is fsynced, dropped from the page cache,
read back and compared (xxh128) before it is renamed onto its final name, so a
final name in a destination always held verified bytes. A destination that
fails (full, gone, read-only) is given up alone; the other goes on, and the
result lists what is missing where. A second run on the same destinations
re-reads what is already there instead of copying it again.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import xxhash
from PIL import Image

from capture_assist.storage.atomic import (
    CHUNK_BYTES,
    fsync_directory,
    partial_path_for,
)
from capture_assist.storage.dataset import (
    DatasetLayout,
    coco_reference_charts,
    metadata_csv,
    metadata_jsonl,
    take_row,
)
from capture_assist.storage.mhl import MhlHash, recorded_hashes, write_generation
from capture_assist.storage.session_files import (
    SHOTLIST_COPY_NAME,
    SessionRecord,
    SessionStep,
    read_session,
)
from capture_assist.storage.sidecar import SidecarError, validate_sidecar
from capture_assist.storage.timeline import ale_text, otio_json
from capture_assist.storage.xmp import TakeContext, build_xmp, xmp_path_for

Progress = Callable[[int], object]
METADATA_PATH = "train/metadata.jsonl"
METADATA_CSV_PATH = "manifests/metadata.csv"
COCO_PATH = "annotations/reference_charts.coco.json"
OTIO_PATH = "editorial/session.otio"
ALE_PATH = "editorial/session.ale"
SHOTLIST_PATH = "session/shotlist.yaml"
EVENTS_PATH = "session/events.jsonl"
REPORT_PATH = "report.html"


class ExportError(RuntimeError):
    """The export cannot start (bad session folder or destination)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """A step left out because a source file no longer matches what was recorded."""

    step_id: str
    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class Exclusion:
    """A step not delivered by choice (NG) or because it is not done."""

    step_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class DestinationResult:
    """What one destination holds after the run."""

    root: Path
    verified: tuple[str, ...]
    missing: tuple[str, ...]
    error: str | None
    mhl_generation: Path | None

    @property
    def complete(self) -> bool:
        """Whether every planned file is verified here and the history was written."""
        return self.error is None and not self.missing and self.mhl_generation is not None


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What an export delivered, refused and left out."""

    destinations: tuple[DestinationResult, ...]
    takes: tuple[str, ...]
    references: tuple[str, ...]
    refused: tuple[Refusal, ...]
    excluded: tuple[Exclusion, ...]
    source_bytes: int

    @property
    def ok(self) -> bool:
        """Whether every destination is complete and no source was refused."""
        return not self.refused and all(d.complete for d in self.destinations)


@dataclass(frozen=True, slots=True)
class _SourceFile:
    destination_path: str
    source: Path
    expected_sha256: tuple[str, ...]


@dataclass
class _Destination:
    """A destination's state during the run (shared by the copy threads)."""

    root: Path
    history: dict[str, str]
    error: str | None = None
    verified: dict[str, MhlHash] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, path: str, error: OSError) -> None:
        with self.lock:
            if self.error is None:
                self.error = _explain(error, self.root, path)

    @property
    def alive(self) -> bool:
        return self.error is None

    def record(self, path: str, final: Path, digest: str) -> None:
        now = datetime.now(UTC)
        recorded = self.history.get(path)
        stat = final.stat()
        entry = MhlHash(
            path=path,
            size_bytes=stat.st_size,
            modified=datetime.fromtimestamp(stat.st_mtime, UTC),
            xxh128=digest,
            action="original" if recorded is None else "verified",
            hashed_at=now,
        )
        with self.lock:
            self.verified[path] = entry

    def withdraw(self, paths: Iterable[str]) -> None:
        for path in paths:
            with self.lock:
                self.verified.pop(path, None)
            try:
                (self.root / path).unlink(missing_ok=True)
            except OSError as error:
                self.fail(path, error)


_DIFFERENT_EXPORT = (
    "holds an earlier export of this session with different content (a take rated, "
    "beats marked or takes added since?); deliver to an empty folder"
)


def _explain(error: OSError, root: Path, path: str) -> str:
    if error.errno == errno.ENOSPC:
        return f"{root} is full (writing {path}); free space and run the export again"
    if error.errno == errno.ENOENT and not root.exists():
        return f"{root} disappeared during the copy (unplugged or unmounted?)"
    return f"{root}: writing {path} failed: {error.strerror or error}"


def _make_folders(root: Path, folder: Path) -> None:
    """Create ``folder`` below ``root``, never ``root`` itself.

    A drive that is unplugged mid-copy leaves its empty mount point behind;
    creating the root again would quietly copy onto the system disk.
    """
    current = root
    for part in folder.relative_to(root).parts:
        current = current / part
        current.mkdir(exist_ok=True)


def _read_back_xxh128(path: Path) -> str:
    """Hash a file from the storage, not from the page cache the write just filled."""
    digest = xxhash.xxh3_128()
    with open(path, "rb") as handle:
        os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class _Written:
    """A copy written under a temporary name, waiting to be made durable and verified."""

    destination: _Destination
    path: str
    temp: Path
    expected: str


_LIBC = ctypes.CDLL(None, use_errno=True)


def _make_durable(root: Path, temps: Sequence[Path]) -> None:
    """Flush written copies to the storage: one syncfs for a batch where Linux has it."""
    if hasattr(_LIBC, "syncfs"):
        descriptor = os.open(root, os.O_RDONLY)
        try:
            if _LIBC.syncfs(descriptor) != 0:
                code = ctypes.get_errno()
                raise OSError(code, os.strerror(code))
        finally:
            os.close(descriptor)
        return
    for temp in temps:
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())


def _finish(written: Sequence[_Written]) -> None:
    """Make a batch durable, read each copy back, compare, rename; record only what held.

    One flush and one fsync per folder for a whole batch (a take's files)
    instead of two fsyncs per file: on a journalled filesystem every fsync is
    a journal commit, and small sidecars would otherwise cost more than media.
    """
    batches: dict[int, list[_Written]] = {}
    for item in written:
        batches.setdefault(id(item.destination), []).append(item)
    for items in batches.values():
        destination = items[0].destination
        try:
            if not destination.alive:
                raise OSError(errno.EIO, "given up earlier")
            _make_durable(destination.root, [item.temp for item in items])
        except OSError as error:
            for item in items:
                _remove(item.temp)
            destination.fail(items[0].path, error)
            continue
        renamed: list[tuple[_Written, Path]] = []
        for item in items:
            final = destination.root / item.path
            try:
                recorded = destination.history.get(item.path)
                if recorded is not None and recorded != item.expected:
                    # Its history vouches for other bytes under this name: never overwrite them.
                    raise OSError(errno.EEXIST, _DIFFERENT_EXPORT)
                actual = _read_back_xxh128(item.temp)
                if actual != item.expected:
                    raise OSError(errno.EIO, f"read back {actual}, wrote {item.expected}")
                os.replace(item.temp, final)
                renamed.append((item, final))
            except OSError as error:
                _remove(item.temp)
                destination.fail(item.path, error)
        try:
            for folder in {final.parent for _item, final in renamed}:
                fsync_directory(folder)
        except OSError as error:
            destination.fail(items[0].path, error)
            continue
        for item, final in renamed:
            try:
                destination.record(item.path, final, item.expected)
            except OSError as error:
                destination.fail(item.path, error)


def _already_there(destination: _Destination, path: str, size: int, expected: str) -> bool:
    """Whether a previous run left this file verified here (re-read to be sure)."""
    final = destination.root / path
    recorded = destination.history.get(path)
    if recorded is not None and recorded != expected:
        # Checked first: what the history vouches for is never removed or replaced.
        destination.fail(path, OSError(errno.EEXIST, _DIFFERENT_EXPORT))
        return True
    try:
        if not final.is_file() or final.stat().st_size != size:
            return False
        if _read_back_xxh128(final) != expected:
            # Bit rot or a hand edit since it was verified: copy it again from the source.
            final.unlink()
            return False
    except OSError as error:
        destination.fail(path, error)
        return True
    try:
        destination.record(path, final, expected)
    except OSError as error:
        destination.fail(path, error)
    return True


def _deliver_bytes(
    destinations: Sequence[_Destination], path: str, content: bytes
) -> list[_Written]:
    """Write generated content (XMP, manifest) to every live destination under a temporary name."""
    expected = xxhash.xxh3_128_hexdigest(content)
    written: list[_Written] = []
    for destination in destinations:
        if not destination.alive or _already_there(destination, path, len(content), expected):
            continue
        final = destination.root / path
        temp = partial_path_for(final)
        try:
            _make_folders(destination.root, final.parent)
            with open(temp, "wb") as handle:
                handle.write(content)
        except OSError as error:
            _remove(temp)
            destination.fail(path, error)
            continue
        written.append(_Written(destination, path, temp, expected))
    return written


def _remove(temp: Path) -> None:
    """Remove an unfinished copy; a destination that is gone has nothing left to remove."""
    with contextlib.suppress(OSError):
        temp.unlink(missing_ok=True)


def _abandon(handle: BinaryIO, temp: Path) -> None:
    """Close and remove a copy that will not be finished (its destination may be gone)."""
    with contextlib.suppress(OSError):
        handle.close()
    _remove(temp)


def _deliver_source(
    destinations: Sequence[_Destination], item: _SourceFile, progress: Progress
) -> tuple[str | None, list[_Written]]:
    """Copy one source file to every live destination under temporary names.

    Returns why the source was refused (``None`` when it was not) and the copies written.
    """
    try:
        size = item.source.stat().st_size
    except OSError as error:
        return f"{item.source} cannot be read: {error.strerror}", []
    sha256 = hashlib.sha256()
    xxh = xxhash.xxh3_128()
    handles: dict[int, tuple[_Destination, Path, BinaryIO]] = {}
    to_check: list[_Destination] = []
    for index, destination in enumerate(destinations):
        if not destination.alive:
            continue
        final = destination.root / item.destination_path
        if final.is_file() and final.stat().st_size == size:
            to_check.append(destination)
            continue
        temp = partial_path_for(final)
        try:
            _make_folders(destination.root, final.parent)
            handles[index] = (destination, temp, open(temp, "wb"))
        except OSError as error:
            destination.fail(item.destination_path, error)
    try:
        with open(item.source, "rb") as source:
            while chunk := source.read(CHUNK_BYTES):
                sha256.update(chunk)
                xxh.update(chunk)
                for index, (destination, temp, handle) in list(handles.items()):
                    try:
                        handle.write(chunk)
                    except OSError as error:
                        _abandon(handle, temp)
                        del handles[index]
                        destination.fail(item.destination_path, error)
                progress(len(chunk))
    except OSError as error:
        for _destination, temp, handle in handles.values():
            _abandon(handle, temp)
        return f"{item.source} cannot be read: {error.strerror}", []
    for destination, temp, handle in handles.values():
        try:
            handle.close()
        except OSError as error:
            _remove(temp)
            destination.fail(item.destination_path, error)
    actual = sha256.hexdigest()
    if any(actual != expected for expected in item.expected_sha256):
        for _destination, temp, _handle in handles.values():
            _remove(temp)
        return (
            f"{item.source} changed since it was captured: SHA-256 is {actual}, "
            f"the sidecar recorded {item.expected_sha256[0]}"
        ), []
    digest = xxh.hexdigest()
    written = [
        _Written(destination, item.destination_path, temp, digest)
        for destination, temp, _handle in handles.values()
    ]
    for destination in to_check:
        if not _already_there(destination, item.destination_path, size, digest):
            # What was there did not read back right: copy it again from the source.
            written.extend(
                _deliver_bytes([destination], item.destination_path, item.source.read_bytes())
            )
    return None, written


def _step_sources(
    step: SessionStep, record: SessionRecord, layout: DatasetLayout
) -> list[_SourceFile]:
    files = []
    for stored in step.files:
        files.append(
            _SourceFile(
                layout.media_path(step, stored),
                record.directory / stored.relative_path,
                (stored.sha256, str(stored.sidecar["media"]["sha256"])),
            )
        )
    for stored in step.files:
        files.append(
            _SourceFile(
                layout.sidecar_path(step, stored),
                record.directory / stored.sidecar_relative_path,
                (),
            )
        )
    return files


def _check_sidecars(step: SessionStep) -> str | None:
    for stored in step.files:
        try:
            validate_sidecar(stored.sidecar)
        except SidecarError as error:
            return f"{stored.sidecar_relative_path} was edited and no longer valid: {error}"
    return None


def _select(record: SessionRecord, include_ng: bool) -> tuple[list[SessionStep], list[Exclusion]]:
    selected: list[SessionStep] = []
    excluded: list[Exclusion] = []
    for step in record.steps:
        if not step.is_done:
            reason = step.status + (f": {step.last_error}" if step.last_error else "")
            excluded.append(Exclusion(step.step_id, f"not done ({reason})"))
        elif step.is_ng and not include_ng:
            excluded.append(Exclusion(step.step_id, "rated NG (add --include-ng to deliver it)"))
        elif not step.files:
            excluded.append(Exclusion(step.step_id, "done but no file was recorded"))
        else:
            selected.append(step)
    return selected, excluded


def bytes_to_read(record: SessionRecord, *, include_ng: bool = False) -> int:
    """Return how many source bytes an export of ``record`` reads (a progress bar's total)."""
    selected, _excluded = _select(record, include_ng)
    total = sum(
        item.source.stat().st_size
        for step in selected
        for item in _step_sources(step, record, DatasetLayout())
    )
    shotlist_copy = record.directory / SHOTLIST_COPY_NAME
    return total + (shotlist_copy.stat().st_size if shotlist_copy.is_file() else 0)


def _prepare(root: Path) -> _Destination:
    try:
        root.mkdir(parents=True, exist_ok=True)
        # Temporary copies of an interrupted run are worthless: the source still has the bytes.
        for leftover in root.rglob(".*.partial-*"):
            leftover.unlink()
    except OSError as error:
        raise ExportError(f"cannot use {root} as a destination: {error.strerror}") from error
    return _Destination(root, recorded_hashes(root))


def export_session(
    session_dir: Path,
    destinations: Sequence[Path],
    *,
    include_ng: bool = False,
    with_report: bool = False,
    progress: Progress = lambda _bytes: None,
    workers: int = 3,
) -> ExportResult:
    """Deliver a session's done takes (and reference frames) to one or two destinations.

    Parameters
    ----------
    session_dir
        The session folder (``session.sqlite``, media, sidecars).
    destinations
        Folders to fill; each gets the whole dataset and an ``ascmhl/`` history.
    include_ng
        Deliver takes rated NG too.
    with_report
        Deliver the session report (``report.html``) with the dataset.
    progress
        Called with the number of source bytes read, as they are read.
    workers
        Takes copied at once: one hashes while another waits on its flush or read-back.

    Raises
    ------
    ExportError
        When a destination cannot be created or the session cannot be read.
    """
    if not 1 <= len(destinations) <= 2:
        raise ExportError("give one destination, or two (--to and --backup)")
    if len({Path(d).resolve() for d in destinations}) != len(destinations):
        raise ExportError("the two destinations are the same folder")
    record = read_session(session_dir)
    states = [_prepare(Path(root)) for root in destinations]
    layout = DatasetLayout()
    selected, excluded = _select(record, include_ng)
    refused: list[Refusal] = []
    refused_lock = threading.Lock()

    def deliver_step(step: SessionStep) -> bool:
        problem = _check_sidecars(step)
        sources = _step_sources(step, record, layout)
        written: list[_Written] = []
        if problem is None:
            for item in sources:
                problem, copies = _deliver_source(states, item, progress)
                written.extend(copies)
                if problem is not None:
                    break
        if problem is None:
            context = TakeContext(step.rating, step.notes, step.beats)
            for stored in step.files:
                path = xmp_path_for(layout.media_path(step, stored))
                xmp = build_xmp(stored.sidecar, context).encode("utf-8")
                written.extend(_deliver_bytes(states, path, xmp))
            _finish(written)
            return True
        for copy in written:
            _remove(copy.temp)
        for state in states:
            # A take is delivered whole or not at all: every angle, or none.
            state.withdraw(item.destination_path for item in sources)
            state.withdraw(xmp_path_for(layout.media_path(step, s)) for s in step.files)
        with refused_lock:
            refused.append(Refusal(step.step_id, sources[0].destination_path, problem))
        return False

    with ThreadPoolExecutor(max_workers=workers) as pool:
        delivered = [
            step for step, ok in zip(selected, pool.map(deliver_step, selected), strict=True) if ok
        ]
    takes = [step for step in delivered if step.is_take]
    references = [step for step in delivered if not step.is_take]
    shotlist_copy = record.directory / SHOTLIST_COPY_NAME
    session_files: list[_Written] = []
    if shotlist_copy.is_file():
        problem, session_files = _deliver_source(
            states,
            _SourceFile(
                SHOTLIST_PATH,
                shotlist_copy,
                (record.meta["shotlist_sha256"],) if "shotlist_sha256" in record.meta else (),
            ),
            progress,
        )
        if problem is not None:
            refused.append(Refusal("session", SHOTLIST_PATH, problem))
    generated = _manifests(record, takes, references, layout)
    if with_report:
        # Imported here: matplotlib costs an export that does not ask for the report.
        from capture_assist.storage.report import render_report

        generated[REPORT_PATH] = render_report(record).encode("utf-8")
    for path, content in generated.items():
        session_files.extend(_deliver_bytes(states, path, content))
    _finish(session_files)
    planned = _planned_paths(record, delivered, layout, generated)
    if shotlist_copy.is_file():
        planned.add(SHOTLIST_PATH)
    results = []
    for state in states:
        generation = None
        if state.verified:
            try:
                generation = write_generation(state.root, list(state.verified.values()))
            except OSError as error:
                state.fail("ascmhl/", error)
        results.append(
            DestinationResult(
                root=state.root,
                verified=tuple(sorted(state.verified)),
                missing=tuple(sorted(planned - set(state.verified))),
                error=state.error,
                mhl_generation=generation,
            )
        )
    return ExportResult(
        destinations=tuple(results),
        takes=tuple(step.step_id for step in takes),
        references=tuple(step.step_id for step in references),
        refused=tuple(refused),
        excluded=tuple(excluded),
        source_bytes=sum(f.size_bytes for step in delivered for f in step.files),
    )


def _manifests(
    record: SessionRecord,
    takes: Sequence[SessionStep],
    references: Sequence[SessionStep],
    layout: DatasetLayout,
) -> dict[str, bytes]:
    rows = [take_row(record, step, layout) for step in takes]
    sizes = {}
    for step in references:
        for stored in step.files:
            try:
                with Image.open(record.directory / stored.relative_path) as image:
                    size = image.size
            except OSError:
                # A RAW or other file Pillow cannot decode: the camera's declared size.
                width, height = stored.sidecar["camera"]["records"]["resolution"]
                size = (int(width), int(height))
            sizes[layout.media_path(step, stored)] = size
    coco = coco_reference_charts(record, references, sizes, layout)
    events = "".join(
        json.dumps({"at": e.at, "level": e.level, "message": e.message}) + "\n"
        for e in record.events
    )
    return {
        METADATA_PATH: metadata_jsonl(rows),
        METADATA_CSV_PATH: metadata_csv(rows),
        COCO_PATH: (json.dumps(coco, indent=1) + "\n").encode("utf-8"),
        OTIO_PATH: otio_json(record, takes, layout).encode("utf-8"),
        ALE_PATH: ale_text(record, takes, layout).encode("utf-8"),
        EVENTS_PATH: events.encode("utf-8"),
    }


def _planned_paths(
    record: SessionRecord,
    delivered: Sequence[SessionStep],
    layout: DatasetLayout,
    generated: Mapping[str, bytes],
) -> set[str]:
    planned = set(generated)
    for step in delivered:
        for item in _step_sources(step, record, layout):
            planned.add(item.destination_path)
        planned.update(xmp_path_for(layout.media_path(step, s)) for s in step.files)
    return planned
