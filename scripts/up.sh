#!/usr/bin/env bash
# Start a working single-node podfleet cluster on this machine (as root), installing what it needs.
# Extra arguments go to `podfleet up` (e.g. `--nodes 3`, `--data-dir DIR`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh
exec .venv/bin/podfleet up "$@"
