#!/usr/bin/env bash
# Runs a command beside a private, headless sway (a real Wayland compositor with
# layer-shell, drawing in memory with pixman): WAYLAND_DISPLAY is set for the command,
# as an absolute path, so its own XDG_RUNTIME_DIR may point elsewhere. sway refuses
# root, so it runs as nobody in a runtime dir of its own. Drive windows with `wtype`,
# take the screen with `grim`, ask sway with `swaymsg` (SWAYSOCK is set). Everything
# stops when the command ends.
#   scripts/with-headless-sway.sh COMMAND [ARGS...]
set -euo pipefail
for tool in sway setpriv; do
    command -v "$tool" >/dev/null || { echo "with-headless-sway: $tool is missing; run \`make setup\`" >&2; exit 1; }
done
rt=$(mktemp -d /tmp/aios-sway.XXXXXX)
chmod 700 "$rt"
chown 65534:65534 "$rt"
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$rt"
}
trap cleanup EXIT
# One 1280x720 output; new windows fill it (no borders: screenshots show the window).
cat >"$rt/sway.conf" <<'EOF'
output HEADLESS-1 resolution 1280x720 bg #1b1d23 solid_color
default_border none
EOF
chown 65534:65534 "$rt/sway.conf"
env -i PATH=/usr/bin:/bin XDG_RUNTIME_DIR="$rt" WLR_BACKENDS=headless WLR_LIBINPUT_NO_DEVICES=1 \
    WLR_RENDERER=pixman setpriv --reuid=65534 --regid=65534 --clear-groups \
    sway -c "$rt/sway.conf" >"$rt/sway.log" 2>&1 &
pid=$!
socket=
for _ in $(seq 200); do
    socket=$(find "$rt" -maxdepth 1 -name 'wayland-[0-9]*' -type s 2>/dev/null | head -n1)
    [ -n "$socket" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
done
if [ -z "$socket" ]; then
    echo "with-headless-sway: sway did not start:" >&2
    cat "$rt/sway.log" >&2
    exit 1
fi
export WAYLAND_DISPLAY="$socket"
# swaymsg talks to sway over its IPC socket, beside the Wayland one.
SWAYSOCK=$(find "$rt" -maxdepth 1 -name 'sway-ipc.*.sock' -type s 2>/dev/null | head -n1)
export SWAYSOCK
"$@"
