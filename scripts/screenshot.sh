#!/usr/bin/env bash
# Screenshot of the real window under Xvfb: scripts/screenshot.sh OUT.png [SPACE_PRESSES] [extra gui args...]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/screenshots/main_window.png}
presses=${2:-0}
shift $(( $# > 2 ? 2 : $# )) || true
scripts/setup.sh
need=()
for pkg in xvfb libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0 imagemagick xdotool; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
display=:99
Xvfb "$display" -screen 0 1920x1080x24 >/dev/null 2>&1 &
xvfb_pid=$!
session=$(mktemp -d)
trap 'kill $app_pid $xvfb_pid 2>/dev/null || true; rm -rf "$session"' EXIT
sleep 1
# A fresh settings folder: a layout saved by an earlier launch must not change the picture.
DISPLAY=$display QT_QPA_PLATFORM=xcb XDG_CONFIG_HOME="$session/config" \
    .venv/bin/capture-assist gui shotlists/demo.yaml --out "$session/s" "$@" &
app_pid=$!
sleep 6
DISPLAY=$display xdotool search --onlyvisible --name capture-assist windowmove --sync 0 0 windowsize --sync 1920 1080 || true
sleep 0.5
for _ in $(seq 1 "$presses"); do
    DISPLAY=$display xdotool search --onlyvisible --name capture-assist windowfocus --sync key space || true
    sleep 1.5
done
# EXTRA_KEYS: more keys to press after the captures (xdotool names, e.g. "c").
for key in ${EXTRA_KEYS:-}; do
    DISPLAY=$display xdotool search --onlyvisible --name capture-assist windowfocus --sync key "$key" || true
    sleep 1
done
sleep "${SHOT_DELAY:-0}"
mkdir -p "$(dirname "$out")"
DISPLAY=$display import -window root "$out"
echo "wrote $out"
