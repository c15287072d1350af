#!/usr/bin/env bash
# Build the example image offline from Debian's busybox-static and import it into a podfleet node:
#   bash examples/build-busybox-image.sh [DATA_DIR] [REF]
# DATA_DIR is the node's state directory (`podfleet up` uses /var/lib/podfleet/node).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA_DIR="${1:-/var/lib/podfleet/node}"
REF="${2:-podfleet.local/busybox:1.0}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp" "$work/rootfs/www" "$work/rootfs/root"
cp "$(command -v busybox)" "$work/rootfs/bin/busybox"
for applet in $("$work/rootfs/bin/busybox" --list); do
  [ -e "$work/rootfs/bin/$applet" ] || ln -s busybox "$work/rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$work/rootfs/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' > "$work/rootfs/etc/group"
chmod 1777 "$work/rootfs/tmp"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
"$ROOT/.venv/bin/podfleet" images --data-dir "$DATA_DIR" import "$work/rootfs.tar" "$REF"
