#!/usr/bin/env bash
# The whole test suite on a fresh machine: venv, install with test+dev extras, make sure
# PostgreSQL is up, then lint, type-check and run every test on every backend.
# OHF_VENV picks the venv folder (default .venv); OHF_FRESH_VENV=1 recreates it.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${OHF_VENV:-.venv}"
if [ "${OHF_FRESH_VENV:-0}" = "1" ]; then rm -rf "$venv"; fi
if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e ".[dev]"

bash scripts/ensure-postgres.sh

"$venv/bin/ruff" check .
"$venv/bin/ruff" format --check .
"$venv/bin/mypy" --strict ohf_persistence
"$venv/bin/python" -m pytest "$@"
