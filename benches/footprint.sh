#!/usr/bin/env bash
# What AIOS costs while it waits, with the local model loaded: the release agent and
# its model worker (aios-llm) from start to ready-to-listen and to the first warm
# answer; then idle CPU over SECONDS (default 60) in push-to-talk mode, CPU over 10 s
# with the microphone open (hands-free, a silent room), and resident memory of each.
# Needs a sound server and the models:
#   scripts/with-headless-audio.sh benches/footprint.sh [SECONDS]
# after `cargo build --release -p aios-agent -p aios-llm -p aios-cli` and `make models`.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
bin=${CARGO_TARGET_DIR:-target}/release
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
export HOME=$tmp/home XDG_CONFIG_HOME=$tmp/config XDG_STATE_HOME=$tmp/state \
    XDG_DATA_HOME=$tmp/data AIOS_SOCKET=$tmp/agent.sock AIOS_MODELS_DIR=$PWD/models
mkdir -p "$HOME" "$XDG_CONFIG_HOME/aios"
printf '[provider]\ntype = "local"\n\n[agent]\nkeep_history = false\n\n[voice]\nenabled = true\n' \
    >"$XDG_CONFIG_HOME/aios/agent.toml"
now_ms() { date +%s%3N; }
t0=$(now_ms)
RUST_LOG=warn "$bin/aios-agent" 2>"$tmp/agent.log" &
pid=$!
until [ -S "$AIOS_SOCKET" ]; do sleep 0.01; done
t_socket=$(now_ms)
# Ready to listen: the voice models are loaded (they load in the background).
until "$bin/aios" voice-mode push-to-talk >/dev/null 2>&1; do sleep 0.05; done
t_listen=$(now_ms)
"$bin/aios" ask "Say hello in three words." >/dev/null
t_answer=$(now_ms)
t1=$(now_ms)
"$bin/aios" ask "Name a colour, in one word." >/dev/null
t_warm=$(( $(now_ms) - t1 ))
worker=$(pgrep -P "$pid" -x aios-llm || true)
[ -n "$worker" ] || { echo "footprint: no aios-llm worker under the agent" >&2; exit 1; }
# utime + stime + reaped children, in clock ticks.
ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"; }
rss_mb() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)
pct() { awk -v t="$1" -v s="$2" -v hz="$hz" 'BEGIN { printf "%.2f", 100 * t / hz / s }'; }
sleep 2
a0=$(ticks "$pid"); w0=$(ticks "$worker")
sleep "$secs"
a1=$(ticks "$pid"); w1=$(ticks "$worker")
"$bin/aios" voice-mode hands-free >/dev/null
sleep 2
h0=$(ticks "$pid"); sleep 10; h1=$(ticks "$pid")
"$bin/aios" voice-mode push-to-talk >/dev/null
# For benches/collect-results.py.
mkdir -p "$bin/../bench"
printf '{"secs": %s, "agent_idle_cpu_pct": %s, "worker_idle_cpu_pct": %s, "agent_listening_cpu_pct": %s, "agent_rss_mb": %s, "worker_rss_mb": %s, "ready_to_listen_ms": %s, "first_answer_ms": %s, "warm_answer_ms": %s}\n' \
    "$secs" "$(pct $((a1 - a0)) "$secs")" "$(pct $((w1 - w0)) "$secs")" "$(pct $((h1 - h0)) 10)" \
    "$(rss_mb "$pid")" "$(rss_mb "$worker")" "$((t_listen - t0))" "$((t_answer - t0))" "$t_warm" >"$bin/../bench/footprint.json"
echo "| | aios-agent | aios-llm (1.5B loaded) |"
echo "|---|---|---|"
echo "| idle CPU over $secs s (push-to-talk) | $(pct $((a1 - a0)) "$secs")% of a core | $(pct $((w1 - w0)) "$secs")% of a core |"
echo "| CPU with the microphone open (hands-free, silence, 10 s) | $(pct $((h1 - h0)) 10)% of a core | |"
echo "| resident memory | $(rss_mb "$pid") MB | $(rss_mb "$worker") MB |"
echo
echo "start to socket $((t_socket - t0)) ms; to ready to listen $((t_listen - t0)) ms; to the first answer $((t_answer - t0)) ms; a warm answer after that $t_warm ms"
grep -E 'WARN|ERROR' "$tmp/agent.log" | head -5 || true
