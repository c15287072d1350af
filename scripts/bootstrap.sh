#!/usr/bin/env bash
# Installs what podfleet needs on a fresh Debian 12 machine (as root): the Debian packages that
# provide the real container parts, and a Python venv at .venv with podfleet and its dev tools.
# Idempotent and quiet when everything is already there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
APT_PACKAGES=(runc crun conmon containernetworking-plugins busybox-static umoci skopeo
              docker-registry etcd-server iproute2 iptables procps kmod nftables conntrack)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian services for the registry and etcd are not wanted: tests start their own.
PY="${PYTHON:-python3}"
if [[ ! -x "$ROOT/.venv/bin/python" ]]; then
  echo "bootstrap: creating $ROOT/.venv" >&2
  "$PY" -m venv "$ROOT/.venv"
fi
stamp="$ROOT/.venv/.podfleet-installed"
if [[ ! -f "$stamp" || "$ROOT/pyproject.toml" -nt "$stamp" ]]; then
  echo "bootstrap: installing Python packages into .venv" >&2
  "$ROOT/.venv/bin/pip" install -q --upgrade pip >/dev/null 2>&1 || true
  "$ROOT/.venv/bin/pip" install -q -e "$ROOT[dev]"
  touch "$stamp"
fi
