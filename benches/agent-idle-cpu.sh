#!/usr/bin/env bash
# The release agent's CPU while idle: 10 s in push-to-talk mode, then 10 s in
# hands-free mode (microphone open, VAD on every 32 ms, a silent room). Needs a sound
# server; on a machine without one:
#   scripts/with-headless-audio.sh benches/agent-idle-cpu.sh
#   PULSE_SERVER=unix:/nonexistent scripts/with-headless-audio.sh benches/agent-idle-cpu.sh   # ALSA
# Build first: cargo build --release -p aios-agent -p aios-cli (and `make models`).
set -euo pipefail
bin=${CARGO_TARGET_DIR:-target}/release
tmp=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
export XDG_CONFIG_HOME=$tmp/config XDG_STATE_HOME=$tmp/state AIOS_SOCKET=$tmp/agent.sock
mkdir -p "$XDG_CONFIG_HOME/aios"
# A provider that is never asked: nothing is said.
printf '[provider]\ntype = "openai"\nbase_url = "http://127.0.0.1:9"\napi_key = "unused"\n\n[voice]\nenabled = true\n' \
    >"$XDG_CONFIG_HOME/aios/agent.toml"
chmod 600 "$XDG_CONFIG_HOME/aios/agent.toml"
RUST_LOG=warn "$bin/aios-agent" 2>"$tmp/agent.log" &
pid=$!
for _ in $(seq 100); do [ -S "$AIOS_SOCKET" ] && break; sleep 0.1; done
# The voice models load in the background.
until "$bin/aios" voice-mode push-to-talk >/dev/null 2>&1; do sleep 0.2; done
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
measure() {
    local a b
    a=$(ticks); sleep 10; b=$(ticks)
    # Clock ticks of 10 ms over 10 s: ticks / 10 = % of one core.
    echo "$1: $(awk -v t=$((b - a)) 'BEGIN { printf "%.1f", t / 10 }')% of one core"
}
sleep 2
measure "push-to-talk, idle"
"$bin/aios" voice-mode hands-free >/dev/null
sleep 2
measure "hands-free, idle (listening)"
grep -E 'microphone open|WARN|ERROR' "$tmp/agent.log" || true
