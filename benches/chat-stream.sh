#!/usr/bin/env bash
# Does the chat window keep up with a reply streamed at 50 tokens/s? A model on
# 127.0.0.1 (benches/sse-model.py) streams TOKENS (default 500) Markdown pieces at
# RATE (50) a second to the real agent; the question is typed into the real chat
# window (release) under headless sway with wtype. Reported: the window's CPU while
# the reply streams, and in the second after the last piece (a window that fell
# behind would still be busy working off its backlog).
#   scripts/with-headless-sway.sh benches/chat-stream.sh [TOKENS] [RATE]
# after `cargo build --release -p aios-agent -p aios-chat`.
set -euo pipefail
cd "$(dirname "$0")/.."
tokens=${1:-500}
rate=${2:-50}
bin="${CARGO_TARGET_DIR:-target}/release"
[ -n "${WAYLAND_DISPLAY:-}" ] || { echo "run me under scripts/with-headless-sway.sh" >&2; exit 1; }
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
mkfifo "$dir/port"
python3 benches/sse-model.py "$tokens" "$rate" "$dir/times" >"$dir/port" & pids+=($!)
read -r port <"$dir/port"
mkdir -p "$dir/home" "$dir/config/aios"
printf '[provider]\ntype = "openai"\nbase_url = "http://127.0.0.1:%s"\napi_key = "sk-bench"\nmax_tokens = 4096\n[agent]\nkeep_history = false\n[voice]\nenabled = false\n' "$port" >"$dir/config/aios/agent.toml"
export HOME="$dir/home" XDG_CONFIG_HOME="$dir/config" AIOS_SOCKET="$dir/agent.sock"
"$bin/aios-agent" 2>/dev/null & pids+=($!)
for _ in $(seq 100); do [ -S "$AIOS_SOCKET" ] && break; sleep 0.05; done
"$bin/aios-chat" 2>/dev/null & chat=$!; pids+=($chat)
until swaymsg -t get_tree -r | grep -q '"pid": '"$chat"; do sleep 0.01; done
sleep 2 # connected, status and history in

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
c0=$(ticks "$chat"); t0=$(date +%s.%N)
wtype -s 300 "tell me about my downloads" -k Return
until [ -s "$dir/times" ]; do sleep 0.01; done
c1=$(ticks "$chat"); t1=$(date +%s.%N)
sleep 1
c2=$(ticks "$chat")
read -r first last <"$dir/times"
awk -v c0="$c0" -v c1="$c1" -v c2="$c2" -v t0="$t0" -v t1="$t1" -v hz="$hz" \
    -v first="$first" -v last="$last" -v n="$tokens" -v rate="$rate" 'BEGIN {
  printf "%d pieces at %g/s streamed in %.1f s\n", n, rate, last - first
  printf "aios-chat CPU from typing to the last piece (%.1f s): %.1f%% of a core\n", t1 - t0, 100 * (c1 - c0) / hz / (t1 - t0)
  printf "aios-chat CPU in the second after the last piece: %.1f%% of a core\n", 100 * (c2 - c1) / hz
}'
