#!/usr/bin/env bash
# Runs a command with a private, headless PipeWire: its own runtime dir and session
# bus, WirePlumber, its PulseAudio server, a null sink as the speaker and a loopback as the microphone
# (play into the mic with `pw-play --target=aios-mic-in FILE.wav`). Everything stops
# when the command ends. Used by `voice_bench --only barge-in`; handy for trying the
# voice pipeline on a machine without a sound card.
#   scripts/with-headless-audio.sh COMMAND [ARGS...]
set -euo pipefail
dir=$(mktemp -d)
export XDG_RUNTIME_DIR="$dir/run"
mkdir -m 700 "$XDG_RUNTIME_DIR"
pids=()
cleanup() {
    kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
exec 3< <(dbus-daemon --session --nofork --print-address=1 --address="unix:path=$dir/bus")
read -r DBUS_SESSION_BUS_ADDRESS <&3
export DBUS_SESSION_BUS_ADDRESS
pids+=($!)
pipewire >/dev/null 2>&1 & pids+=($!)
for _ in $(seq 100); do [ -S "$XDG_RUNTIME_DIR/pipewire-0" ] && break; sleep 0.1; done
wireplumber >/dev/null 2>&1 & pids+=($!)
pipewire-pulse >/dev/null 2>&1 & pids+=($!)
for _ in $(seq 100); do
    pw-cli create-node adapter '{ factory.name=support.null-audio-sink node.name=aios-speaker media.class=Audio/Sink object.linger=true audio.position=[FL FR] priority.session=3000 }' >/dev/null 2>&1 && break
    sleep 0.1
done
pw-loopback --capture-props='media.class=Audio/Sink node.name=aios-mic-in audio.position=[MONO] priority.session=100' \
    --playback-props='media.class=Audio/Source node.name=aios-mic audio.position=[MONO] priority.session=3000' >/dev/null 2>&1 & pids+=($!)
ok=0
for _ in $(seq 100); do
    if wpctl inspect @DEFAULT_AUDIO_SINK@ 2>/dev/null | grep -q 'node.name = "aios-speaker"' &&
        wpctl inspect @DEFAULT_AUDIO_SOURCE@ 2>/dev/null | grep -q 'node.name = "aios-mic"'; then
        ok=1
        break
    fi
    sleep 0.1
done
[ "$ok" = 1 ] || { echo "with-headless-audio: PipeWire did not come up" >&2; exit 1; }
"$@"
