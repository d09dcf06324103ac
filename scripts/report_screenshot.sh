#!/usr/bin/env bash
# The session report of a simulated session with injected problems, rendered by
# headless Chromium: scripts/report_screenshot.sh [OUT.png] [HEIGHT]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/screenshots/report.png}
height=${2:-2300}
scripts/setup.sh --with-test-readers
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.venv/bin/python - "$work/session" <<'PY'
import sys
from pathlib import Path

sys.path.insert(0, "tests/storage")
from delivery_helpers import shoot_session_with_problems  # noqa: E402

from capture_assist.storage.report import write_report  # noqa: E402

session = shoot_session_with_problems(Path("shotlists/demo.yaml"), Path(sys.argv[1]))
print(write_report(session))
PY
mkdir -p "$(dirname "$out")"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,"$height" \
    --screenshot="$out" "file://$work/session/report.html" 2>/dev/null
echo "wrote $out"
