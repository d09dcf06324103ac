#!/usr/bin/env bash
# Sets up, then runs every check CI runs: lint, types, layering, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --with-test-readers
export QT_QPA_PLATFORM=offscreen
echo "== ruff"; .venv/bin/ruff check capture_assist tests benchmarks
echo "== mypy (strict)"; .venv/bin/mypy
echo "== import-linter"; .venv/bin/lint-imports
echo "== pytest"; .venv/bin/python -m pytest -q "$@"
