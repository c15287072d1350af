#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, then lint, types, layering,
# unit and integration tests. Extra arguments go to pytest (e.g. `scripts/test.sh -k storage`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh
echo "== ruff"; .venv/bin/ruff check src tests bench
echo "== mypy"; .venv/bin/mypy
echo "== import layers"; .venv/bin/lint-imports
echo "== pytest"
exec .venv/bin/pytest -q -ra "$@"
