#!/usr/bin/env bash
# Boots the live ISO in QEMU for a person: a window (GTK or SDL) where a display
# exists, the serial console in this terminal otherwise. KVM when it works, TCG
# (slow, but no AVX-512 either) when it does not.
set -euo pipefail
cd "$(dirname "$0")/../.."
ISO=${1:-iso/out/aios-amd64.iso}
[ -f "$ISO" ] || { echo "run-qemu: $ISO is missing: run \`make iso\` first" >&2; exit 1; }
accel=(-accel tcg -cpu max)
if [ -w /dev/kvm ]; then
    # A QEMU that cannot use KVM (nested, as on the build VMs) exits at once.
    qemu-system-x86_64 -accel kvm -machine none -display none -monitor none -S </dev/null >/dev/null 2>&1 &
    pid=$!
    sleep 2
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        accel=(-accel kvm -cpu host)
    fi
fi
if [ -n "${WAYLAND_DISPLAY:-}${DISPLAY:-}" ]; then
    display=(-display gtk -vga virtio)
else
    display=(-display none -vga std -serial mon:stdio)
fi
audio=(-audiodev none,id=snd0)
if command -v pactl >/dev/null && pactl info >/dev/null 2>&1; then
    audio=(-audiodev pa,id=snd0)
fi
exec qemu-system-x86_64 "${accel[@]}" -m 4096 -smp 2 -cdrom "$ISO" -boot d \
    "${display[@]}" -nic user "${audio[@]}" \
    -device intel-hda -device hda-duplex,audiodev=snd0
