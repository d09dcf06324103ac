"""Atomic writes and checksums: nothing half-written is ever visible under a final name.

A file is written under a temporary sibling name, flushed, fsynced, renamed onto
its final name, and the directory is fsynced so the rename itself survives a
power cut. Partial files are never deleted by this module: after a crash they
hold bytes a camera already delivered, and the session decides where they go.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHUNK_BYTES = 4 * 1024 * 1024
PARTIAL_MARK = ".partial-"


class StorageError(OSError):
    """Writing to disk failed; the message names the path and what to do."""


@dataclass(frozen=True, slots=True)
class FileDigest:
    """A file's SHA-256 (hex) and size."""

    sha256: str
    size_bytes: int


def _explain(error: OSError, path: Path) -> StorageError:
    if error.errno == errno.ENOSPC:
        return StorageError(
            errno.ENOSPC,
            f"the disk is full while writing {path}; free space or choose another --out",
        )
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StorageError(error.errno, f"cannot write {path}: {error.strerror}")
    return StorageError(
        error.errno or errno.EIO, f"writing {path} failed: {error.strerror or error}"
    )


def fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def partial_path_for(final_path: Path) -> Path:
    """Return a fresh temporary sibling name for ``final_path``."""
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    return final_path.with_name(f".{final_path.name}{PARTIAL_MARK}{token}")


class PartialFile:
    """A temporary sibling of ``final_path`` for writers that write by path.

    ``commit()`` fsyncs the temporary file, renames it onto ``final_path`` and
    fsyncs the directory. Without a commit the temporary file stays where it is
    (a camera that died mid-download still left real bytes there).
    """

    def __init__(self, final_path: Path) -> None:
        self.final_path = final_path
        final_path.parent.mkdir(parents=True, exist_ok=True)
        self.temp_path = partial_path_for(final_path)

    def commit(self, final_path: Path | None = None) -> Path:
        """Make the written bytes durable under the final name and return it.

        ``final_path`` replaces the name given at creation (same folder), for
        writers that learn the right extension only once they are done.
        """
        if final_path is not None:
            if final_path.parent != self.final_path.parent:
                raise ValueError("a partial file can only be renamed within its folder")
            self.final_path = final_path
        try:
            with open(self.temp_path, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(self.temp_path, self.final_path)
            fsync_directory(self.final_path.parent)
        except OSError as error:
            raise _explain(error, self.final_path) from error
        return self.final_path

    def discard(self) -> None:
        """Remove the temporary file (only for bytes known to be worthless)."""
        self.temp_path.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see all of it or nothing."""
    partial = PartialFile(path)
    try:
        with open(partial.temp_path, "wb") as handle:
            handle.write(data)
            handle.flush()
    except OSError as error:
        partial.discard()
        raise _explain(error, path) from error
    try:
        partial.commit()
    except StorageError:
        partial.discard()
        raise


def atomic_write_json(path: Path, document: Any) -> None:
    """Write ``document`` as UTF-8 JSON (indented, key order kept) atomically."""
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


def file_digest(path: Path) -> FileDigest:
    """Return the SHA-256 and size of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return FileDigest(digest.hexdigest(), size)


def find_partials(root: Path) -> list[Path]:
    """Return every temporary file left under ``root`` by an interrupted write."""
    return sorted(path for path in root.rglob(f".*{PARTIAL_MARK}*") if path.is_file())
