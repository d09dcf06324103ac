"""ASC MHL v2 histories: an ``ascmhl/`` folder of generations at the root of each copy.

The only module that imports ``lxml``. Each export run appends one generation
(``NNNN_<folder>_<date>_<time>Z.mhl``, ``urn:ASC:MHL:v2.0``) holding an xxh128
per file: ``original`` the first time the history sees a file, ``verified``
when a later run re-read it and found the recorded hash, ``failed`` when it
did not. ``ascmhl_chain.xml`` lists every generation with its C4 id, so a
generation edited after the fact is detectable.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

from capture_assist import __version__
from capture_assist.storage.atomic import atomic_write_bytes

MHL_FOLDER = "ascmhl"
CHAIN_FILE = "ascmhl_chain.xml"
NS_MHL = "urn:ASC:MHL:v2.0"
NS_CHAIN = "urn:ASC:MHL:DIRECTORY:v2.0"
HASH_FORMAT = "xxh128"
DEFAULT_IGNORES = (".DS_Store", "ascmhl", "ascmhl/")
_C4_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class MhlHash:
    """One file's record in a generation."""

    path: str
    size_bytes: int
    modified: datetime
    xxh128: str
    action: str
    hashed_at: datetime


def c4_id(data: bytes) -> str:
    """Return the C4 id (SMPTE ST 2114) of ``data``: SHA-512 in base 58, 90 characters."""
    value = int.from_bytes(hashlib.sha512(data).digest(), "big")
    digits = ""
    while value:
        value, remainder = divmod(value, 58)
        digits = _C4_ALPHABET[remainder] + digits
    return "c4" + digits.rjust(88, "1")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _generations(root: Path) -> list[Path]:
    folder = root / MHL_FOLDER
    return sorted(folder.glob("*.mhl")) if folder.is_dir() else []


def recorded_hashes(root: Path) -> dict[str, str]:
    """Return the first recorded xxh128 of every file in a copy's history, by relative path."""
    recorded: dict[str, str] = {}
    for generation in _generations(root):
        tree = etree.parse(str(generation))
        for entry in tree.iterfind(f"{{{NS_MHL}}}hashes/{{{NS_MHL}}}hash"):
            path = entry.findtext(f"{{{NS_MHL}}}path")
            digest = entry.find(f"{{{NS_MHL}}}{HASH_FORMAT}")
            if path and digest is not None and digest.get("action") == "original":
                recorded.setdefault(path, str(digest.text))
    return recorded


def write_generation(
    root: Path,
    hashes: Sequence[MhlHash],
    *,
    ignore_patterns: Sequence[str] = (),
    process: str = "transfer",
) -> Path:
    """Append a generation with ``hashes`` to the history at ``root``; return its path."""
    folder = root / MHL_FOLDER
    folder.mkdir(exist_ok=True)
    number = len(_generations(root)) + 1
    now = datetime.now(UTC)
    name = f"{number:04d}_{root.name}_{now:%Y-%m-%d_%H%M%S}Z.mhl"

    mhl = etree.Element(f"{{{NS_MHL}}}hashlist", nsmap={None: NS_MHL}, version="2.0")
    creator = etree.SubElement(mhl, f"{{{NS_MHL}}}creatorinfo")
    etree.SubElement(creator, f"{{{NS_MHL}}}creationdate").text = _iso(now)
    etree.SubElement(creator, f"{{{NS_MHL}}}hostname").text = socket.gethostname()
    tool = etree.SubElement(creator, f"{{{NS_MHL}}}tool", version=__version__)
    tool.text = "capture-assist"
    process_info = etree.SubElement(mhl, f"{{{NS_MHL}}}processinfo")
    etree.SubElement(process_info, f"{{{NS_MHL}}}process").text = process
    ignore = etree.SubElement(process_info, f"{{{NS_MHL}}}ignore")
    for pattern in dict.fromkeys((*DEFAULT_IGNORES, *ignore_patterns)):
        etree.SubElement(ignore, f"{{{NS_MHL}}}pattern").text = pattern
    entries = etree.SubElement(mhl, f"{{{NS_MHL}}}hashes")
    for record in sorted(hashes, key=lambda h: h.path):
        entry = etree.SubElement(entries, f"{{{NS_MHL}}}hash")
        path = etree.SubElement(
            entry,
            f"{{{NS_MHL}}}path",
            size=str(record.size_bytes),
            lastmodificationdate=_iso(record.modified),
        )
        path.text = record.path
        digest = etree.SubElement(
            entry,
            f"{{{NS_MHL}}}{HASH_FORMAT}",
            action=record.action,
            hashdate=record.hashed_at.astimezone(UTC).isoformat(),
        )
        digest.text = record.xxh128
    document = etree.tostring(mhl, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    atomic_write_bytes(folder / name, document)
    _append_to_chain(folder, name, number, document)
    return folder / name


def _append_to_chain(folder: Path, name: str, number: int, document: bytes) -> None:
    chain_path = folder / CHAIN_FILE
    if chain_path.is_file():
        chain = etree.parse(str(chain_path)).getroot()
    else:
        chain = etree.Element(f"{{{NS_CHAIN}}}ascmhldirectory", nsmap={None: NS_CHAIN})
    entry = etree.SubElement(chain, f"{{{NS_CHAIN}}}hashlist", sequencenr=str(number))
    etree.SubElement(entry, f"{{{NS_CHAIN}}}path").text = name
    etree.SubElement(entry, f"{{{NS_CHAIN}}}c4").text = c4_id(document)
    atomic_write_bytes(
        chain_path,
        etree.tostring(chain, xml_declaration=True, encoding="UTF-8", pretty_print=True),
    )
