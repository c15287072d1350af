#!/usr/bin/env bash
# Build the example image offline from Debian's busybox-static and import it into a podfleet node:
#   bash examples/build-busybox-image.sh [DATA_DIR] [REF]
# DATA_DIR is the node's state directory (`podfleet up` uses /var/lib/podfleet/node); the image
# lands in DATA_DIR/images. Needs: busybox-static (/bin/busybox), tar, and podfleet (the repo's
# .venv, or $PODFLEET, or `podfleet` on PATH).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA_DIR="${1:-/var/lib/podfleet/node}"
REF="${2:-podfleet.local/busybox:1.0}"
PODFLEET="${PODFLEET:-}"
if [ -z "$PODFLEET" ]; then
  if [ -x "$ROOT/.venv/bin/podfleet" ]; then PODFLEET="$ROOT/.venv/bin/podfleet"; else PODFLEET="podfleet"; fi
fi
BUSYBOX="$(command -v busybox || echo /bin/busybox)"
[ -x "$BUSYBOX" ] || { echo "busybox not found: apt-get install busybox-static" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
mkdir -p "$rootfs"/{bin,etc,tmp,proc,sys,dev,root,var/www}
cp "$BUSYBOX" "$rootfs/bin/busybox"
for applet in $("$rootfs/bin/busybox" --list); do
  [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' > "$rootfs/etc/group"
chmod 1777 "$rootfs/tmp"
tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -cf "$work/rootfs.tar" .
"$PODFLEET" images --data-dir "$DATA_DIR" import "$work/rootfs.tar" "$REF"
