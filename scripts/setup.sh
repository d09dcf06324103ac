#!/usr/bin/env bash
# Sets up (or refreshes) the project's virtual environment in .venv.
# Idempotent: a second run only reinstalls when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

# --with-test-readers (scripts/test.sh): also the readers the tests check our
# files with (exiftool, chromium, ascmhl), which the app itself never runs.
with_test_readers=false
[ "${1:-}" = "--with-test-readers" ] && with_test_readers=true

# Shared libraries Qt needs even offscreen; a fresh Debian may lack some.
# libexempi8: the XMP toolkit behind python-xmp-toolkit (XMP sidecars).
packages=(libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0 libexempi8
    fonts-dejavu-core)
$with_test_readers && packages+=(libimage-exiftool-perl chromium)
need_apt=()
for pkg in "${packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if ((${#need_apt[@]})) && command -v apt-get >/dev/null; then
    echo "setup: installing ${need_apt[*]}" >&2
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "setup: Python >= 3.11 is required (found $("$PYTHON" --version))" >&2; exit 1; }

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=.venv/.capture-assist-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[dev]'
    .venv/bin/python -m pip check
    echo "$want" > "$stamp"
fi

# ascmhl (the ASC MHL reader the export tests run) pins an older click than
# datasets and import-linter accept, so it lives in a venv of its own.
if $with_test_readers && [ ! -x .venv-ascmhl/bin/ascmhl-debug ]; then
    "$PYTHON" -m venv .venv-ascmhl
    mhl_req=$(.venv/bin/python -c 'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["mhl-reader"]))')
    .venv-ascmhl/bin/python -m pip install -q $mhl_req
fi
