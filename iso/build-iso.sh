#!/usr/bin/env bash
# Builds the AIOS live ISO (Debian 13 trixie, amd64) with live-build.
#
#   iso/build-iso.sh            # `make iso`; prints the image's path
#
# Natively when run as root on Debian with live-build (`apt install live-build
# cpio`); otherwise inside Docker (an image from iso/Dockerfile) when a Docker
# engine answers (or always, with AIOS_ISO_DOCKER=1). Binaries come from
# iso/build-binaries.sh (portable, x86-64-v3), models from `make models`, ONNX
# Runtime and the browser's MCP server from
# `make setup`. Settings (environment):
#   AIOS_ISO_BUILD_DIR  live-build's work folder (default ~/.cache/aios/iso-build)
#   AIOS_ISO_OUT        where the ISO goes (default iso/out/aios-amd64.iso)
#   AIOS_MIRROR         Debian mirror (default: this machine's apt mirror)
#   AIOS_ISO_DOCKER=1   build inside Docker even where the native build would run
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${AIOS_ISO_OUT:-$ROOT/iso/out/aios-amd64.iso}
WORK=${AIOS_ISO_BUILD_DIR:-$HOME/.cache/aios/iso-build}
start=$(date +%s)
step() { printf '[%4ss] %s\n' "$(($(date +%s) - start))" "$*"; }

# --- What goes into the image -------------------------------------------------
if [ -n "${AIOS_ISO_BIN_DIR:-}" ]; then
    BIN=$AIOS_ISO_BIN_DIR # built before (inside Docker: by the host)
else
    step "release binaries (portable, no AVX-512/AMX)"
    BIN=$(iso/build-binaries.sh | tail -n1)
fi
if [ -z "${AIOS_IN_DOCKER:-}" ]; then
    step "no AVX-512/AMX in the binaries (iso/check-cpu.sh)"
    iso/check-cpu.sh "$BIN"
fi
step "models"
[ -n "${AIOS_IN_DOCKER:-}" ] || python3 scripts/fetch_models.py >/dev/null
ORT=$(ls -d .local/onnxruntime/lib 2>/dev/null) || { echo "build-iso: ONNX Runtime is missing: run \`make setup\`" >&2; exit 1; }
MCP=.local/playwright-mcp
[ -d "$MCP/node_modules/@playwright/mcp" ] || { echo "build-iso: the browser's MCP server is missing: run \`make setup\`" >&2; exit 1; }

# AIOS_ISO_DOCKER=1: Docker even where live-build would run natively (a host that
# should not get live-build's packages, or to try the Docker path itself).
if [ "${AIOS_ISO_DOCKER:-}" = 1 ] || [ "$(id -u)" != 0 ] || ! command -v lb >/dev/null || [ ! -e /etc/debian_version ]; then
    if [ "${AIOS_IN_DOCKER:-}" = 1 ]; then
        echo "build-iso: live-build is missing in the container" >&2
        exit 1
    fi
    if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
        step "building inside Docker (iso/Dockerfile)"
        docker build -t aios-iso-build iso
        # live-build mounts /proc and /dev/pts in its chroot and debootstrap makes
        # device nodes: mount and mknod, unmasked /proc, no seccomp filter. Named one
        # by one rather than --privileged, which asks for every capability and so
        # fails inside a container that lacks one (seen: CAP_SYS_RESOURCE, "unable
        # to apply caps"). The binaries and models were made here; the container only
        # runs live-build.
        docker run --rm --cap-add SYS_ADMIN --cap-add MKNOD --security-opt seccomp=unconfined \
            --security-opt apparmor=unconfined --security-opt systempaths=unconfined \
            -e AIOS_IN_DOCKER=1 -e AIOS_ISO_BIN_DIR=/aios-bin -e AIOS_ISO_OUT=/src/iso/out/aios-amd64.iso \
            -v "$BIN:/aios-bin:ro" \
            -v "$ROOT:/src" -v "$WORK:/root/.cache/aios/iso-build" -w /src \
            aios-iso-build iso/build-iso.sh >&2 # its own steps; its last line is its path
        # The container wrote the ISO under its /src; name it as this host sees it.
        if [ "$OUT" != "$ROOT/iso/out/aios-amd64.iso" ]; then
            mkdir -p "$(dirname "$OUT")"
            mv -f "$ROOT/iso/out/aios-amd64.iso" "$OUT"
        fi
        step "done: $OUT ($(du -h "$OUT" | cut -f1))"
        echo "$OUT"
        exit 0
    fi
    cat >&2 <<'MSG'
build-iso: needs root on Debian with live-build and cpio (`sudo apt install live-build cpio`,
then `sudo make iso`), or a running Docker engine (the build then runs in iso/Dockerfile's image).
MSG
    exit 1
fi
for tool in lb cpio mksquashfs xorriso; do
    command -v "$tool" >/dev/null || { echo "build-iso: $tool is missing: apt install live-build cpio squashfs-tools xorriso" >&2; exit 1; }
done

# --- live-build's folder, configured afresh every time --------------------------
# deb822 sources (trixie, Docker's debian images) or a one-line sources.list (a
# debootstrapped bookworm); either may be missing, which must not stop the build.
mirror=${AIOS_MIRROR:-$({
    sed -n 's/^URIs: *\(http[^ ]*debian\)\/*$/\1/p' /etc/apt/sources.list.d/debian.sources
    sed -n 's/^deb *\(http[^ ]*debian\)\/* .*/\1/p' /etc/apt/sources.list
} 2>/dev/null | head -n1 || true)}
mirror=${mirror:-http://deb.debian.org/debian}
security=${mirror%/debian}/debian-security
mkdir -p "$WORK"
cd "$WORK"
rm -f .lock # a killed build leaves it
lb clean >/dev/null 2>&1 || true # keeps the package cache
rm -rf config
step "lb config (trixie, mirror $mirror)"
lb config --distribution trixie --architectures amd64 --archive-areas main \
    --mirror-bootstrap "$mirror" --mirror-chroot "$mirror" --mirror-binary "$mirror" \
    --mirror-chroot-security "$security" --mirror-binary-security "$security" \
    --binary-images iso-hybrid --bootloaders syslinux,grub-efi \
    --debian-installer none --memtest none --zsync false \
    --firmware-chroot false --firmware-binary false --apt-recommends false \
    --chroot-squashfs-compression-type zstd \
    --iso-application AIOS --iso-volume AIOS --iso-publisher "AIOS" \
    --bootappend-live "boot=live components quiet console=tty0 console=ttyS0,115200n8 username=user locales=C.UTF-8" \
    >/dev/null
cp -a "$ROOT/iso/config/." config/

# Boot menus that wait forever are no use headless: two seconds, then boot.
mkdir -p config/bootloaders
cp -a /usr/share/live/build/bootloaders/isolinux config/bootloaders/
sed -i 's/^timeout .*/timeout 20/' config/bootloaders/isolinux/isolinux.cfg
cp -a /usr/share/live/build/bootloaders/grub-pc config/bootloaders/
sed -i '1i set timeout=2' config/bootloaders/grub-pc/config.cfg

inc=config/includes.chroot
install -d "$inc/usr/bin" "$inc/usr/lib/aios" "$inc/usr/share/aios/models"
for b in aios aios-agent aios-llm aios-confirm aios-chat aios-dock; do
    install -m 0755 "$BIN/$b" "$inc/usr/bin/$b"
done
cp -a "$ROOT/$ORT/." "$inc/usr/lib/aios/"
# The models the image needs (not the 0.5B model or the test speech).
for m in ggml-base.bin ggml-tiny.en.bin en_US-joe-medium.onnx en_US-joe-medium.onnx.json \
    en_US-joe-medium.MODEL_CARD silero-vad-6.2.3 qwen2.5-coder-1.5b-instruct-q4_k_m.gguf README.md; do
    # Hard links where the file system allows: 1.4 GB not copied twice.
    cp -al "$ROOT/models/$m" "$inc/usr/share/aios/models/" 2>/dev/null ||
        cp -a "$ROOT/models/$m" "$inc/usr/share/aios/models/"
done
cp -a "$ROOT/$MCP" "$inc/usr/share/aios/playwright-mcp"

step "lb build (debootstrap, packages, squashfs, ISO)"
lb build > build.log 2>&1 || { tail -n 40 build.log >&2; echo "build-iso: lb build failed; the whole log: $WORK/build.log" >&2; exit 1; }
iso=$(ls -t ./*.iso | head -n1)
mkdir -p "$(dirname "$OUT")"
mv -f "$iso" "$OUT"
# The chroot and the ISO tree are ~7 GB; the package cache stays for the next build.
lb clean >/dev/null 2>&1 || true
rm -rf config/includes.chroot/usr/share/aios
step "done: $OUT ($(du -h "$OUT" | cut -f1))"
echo "$OUT"
