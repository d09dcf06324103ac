"""Export with verification of about 2 GB of media against a plain ``cp`` of the same files.

A demo session is shot on the simulated set, then each take's media is
replaced by a ~70 MB file of random bytes (a clip-sized file) whose SHA-256
and size are recorded in the database and the sidecar exactly as the runner
records them. Then, in the same run and on the same disk, alternating:

- ``cp -r`` of the session's media folders (no fsync, no verification),
- the same followed by ``sync`` (the bytes on disk, still unverified),
- ``capture-assist export`` to one destination: source SHA-256 checked against
  the sidecar, copy, fsync, page cache dropped, read back, xxh128 compared,
  ASC MHL written, plus XMP, manifests and timeline.

Goal: export at most 1.5x a plain ``cp``. The export does strictly more I/O
than ``cp``: it waits for the bytes to reach the drive and reads them all back
from it, so ``cp + sync`` is printed as the closer baseline too.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from capture_assist.cli import main as cli
from capture_assist.storage.export import export_session

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "storage"))
from delivery_helpers import fatten_session  # noqa: E402

TARGET_BYTES = 2 * 1024**3
ROUNDS = 5


def sync() -> None:
    subprocess.run(["sync"], check=True)


def timed(function) -> float:  # type: ignore[no-untyped-def]
    sync()
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="bench-export-", dir=os.environ.get("BENCH_DIR")))
    try:
        session = work / "session"
        code = cli(
            [
                "run",
                str(REPO / "shotlists" / "demo.yaml"),
                "--out",
                str(session),
                "--simulate",
                "--no-progress",
            ]
        )
        if code != 0:
            return code
        media_bytes = fatten_session(session, TARGET_BYTES)
        media_folders = [p for p in session.iterdir() if p.is_dir()]
        files = sum(1 for folder in media_folders for p in folder.rglob("*") if p.is_file())
        print(f"{media_bytes / 1e9:.2f} GB of media in {files} files (with sidecars), {work}")

        def plain_cp() -> None:
            target = work / "cp"
            target.mkdir()
            subprocess.run(["cp", "-r", *map(str, media_folders), str(target)], check=True)

        def cp_and_sync() -> None:
            plain_cp()
            sync()

        def export() -> None:
            result = export_session(session, [work / "export"])
            assert result.ok, result

        timings: dict[str, list[float]] = {"cp": [], "cp + sync": [], "export": []}
        for _ in range(ROUNDS):
            for name, function, folder in (
                ("cp", plain_cp, "cp"),
                ("cp + sync", cp_and_sync, "cp"),
                ("export", export, "export"),
            ):
                timings[name].append(timed(function))
                shutil.rmtree(work / folder)
        best = {name: min(values) for name, values in timings.items()}
        medians = {name: statistics.median(values) for name, values in timings.items()}
        for name, values in timings.items():
            print(
                f"  {name:<10} best {best[name]:5.2f} s ({media_bytes / best[name] / 1e6:5.0f} MB/s), "
                f"median {medians[name]:5.2f} s; runs: " + ", ".join(f"{v:.2f}" for v in values)
            )
        for baseline in ("cp", "cp + sync"):
            print(
                f"export / {baseline:<9} = {medians['export'] / medians[baseline]:.2f}x median, "
                f"{best['export'] / best[baseline]:.2f}x best"
                + ("  (goal <= 1.5x)" if baseline == "cp" else "")
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
