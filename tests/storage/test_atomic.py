from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

from capture_assist.storage import atomic
from capture_assist.storage.atomic import (
    PartialFile,
    StorageError,
    atomic_write_bytes,
    atomic_write_json,
    file_digest,
    find_partials,
)


def test_atomic_write_creates_parents_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "file.bin"
    atomic_write_bytes(target, b"hello")
    assert target.read_bytes() == b"hello"
    assert find_partials(tmp_path) == []


def test_json_keeps_key_order_and_unicode(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    atomic_write_json(target, {"z": 1, "a": "é"})
    assert target.read_text(encoding="utf-8") == '{\n  "z": 1,\n  "a": "é"\n}\n'


def test_a_failed_rename_leaves_no_final_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "file.bin"

    def broken_replace(source: object, destination: object) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(StorageError, match=r"file\.bin"):
        atomic_write_bytes(target, b"data")
    assert not target.exists()
    assert find_partials(tmp_path) == []


def test_a_full_disk_names_the_path_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "take.jpg"
    real_open = open

    class FullDisk:
        def __init__(self, handle: object) -> None:
            self.handle = handle

        def __enter__(self) -> FullDisk:
            return self

        def __exit__(self, *args: object) -> None:
            self.handle.close()  # type: ignore[attr-defined]

        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    def fake_open(path: object, mode: str = "r", *args: object, **kwargs: object) -> object:
        handle = real_open(path, mode, *args, **kwargs)  # type: ignore[call-overload]
        return FullDisk(handle) if "w" in mode else handle

    monkeypatch.setattr("builtins.open", fake_open)
    with pytest.raises(StorageError) as caught:
        atomic_write_bytes(target, b"x" * 10)
    assert caught.value.errno == errno.ENOSPC
    assert "disk is full" in str(caught.value) and "take.jpg" in str(caught.value)
    assert not target.exists()


def test_partial_file_is_kept_until_committed(tmp_path: Path) -> None:
    partial = PartialFile(tmp_path / "cam" / "take.jpg")
    partial.temp_path.write_bytes(b"half a picture")
    assert find_partials(tmp_path) == [partial.temp_path]
    assert not partial.final_path.exists()
    partial.commit()
    assert partial.final_path.read_bytes() == b"half a picture"
    assert find_partials(tmp_path) == []


def test_digest_matches_hashlib_for_a_multi_chunk_file(tmp_path: Path) -> None:
    data = os.urandom(atomic.CHUNK_BYTES * 2 + 123)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    digest = file_digest(path)
    assert digest.sha256 == hashlib.sha256(data).hexdigest()
    assert digest.size_bytes == len(data)
