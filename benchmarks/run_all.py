"""Run every benchmark in this folder, one after another, and print their tables.

Usage: ``.venv/bin/python benchmarks/run_all.py [name-filter]``
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).resolve().parent
    wanted = sys.argv[1] if len(sys.argv) > 1 else ""
    failures = 0
    for script in sorted(here.glob("bench_*.py")):
        if wanted not in script.name:
            continue
        print(f"\n=== {script.name}", flush=True)
        result = subprocess.run([sys.executable, str(script)], cwd=here.parent, check=False)
        failures += result.returncode != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
