#!/usr/bin/env bash
# QEMU 10 from bookworm-backports (bookworm's 7.2 conflicts with the backports
# qemu-utils some machines have) plus what the boot test uses. Idempotent; kept
# out of `make setup` so `make test` never pulls QEMU in.
set -euo pipefail
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu)
for p in sox socat xorriso; do command -v "$p" >/dev/null || need+=("$p"); done
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
. /etc/os-release
if [[ " ${need[*]} " == *" qemu "* ]]; then
    if [ "$VERSION_CODENAME" = bookworm ]; then
        mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)\/*$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
        echo "deb ${mirror:-http://deb.debian.org/debian} bookworm-backports main" |
            $SUDO tee /etc/apt/sources.list.d/aios-backports.list >/dev/null
        $SUDO apt-get update -q
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q -t bookworm-backports qemu-system-x86
    else
        $SUDO apt-get update -q
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-system-x86
    fi
fi
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q sox socat xorriso
