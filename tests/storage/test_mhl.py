"""The ASC MHL chain: each generation's C4 id as the ascmhl reader computes it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from delivery_helpers import ascmhl_debug
from lxml import etree

from capture_assist.storage.export import export_session
from capture_assist.storage.mhl import CHAIN_FILE, MHL_FOLDER, NS_CHAIN


def test_chain_lists_every_generation_with_the_c4_ascmhl_computes(
    session_copy: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert export_session(session_copy, [out]).ok
    assert export_session(session_copy, [out]).ok
    chain = etree.parse(str(out / MHL_FOLDER / CHAIN_FILE)).getroot()
    entries = chain.findall(f"{{{NS_CHAIN}}}hashlist")
    assert [entry.get("sequencenr") for entry in entries] == ["1", "2"]
    for entry in entries:
        generation = out / MHL_FOLDER / entry.findtext(f"{{{NS_CHAIN}}}path")
        assert generation.name.startswith(f"{int(entry.get('sequencenr')):04d}_out_")
        printed = subprocess.run(
            [ascmhl_debug(), "hash", "-h", "c4", str(generation)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        assert printed.strip().endswith(entry.findtext(f"{{{NS_CHAIN}}}c4"))
