#!/usr/bin/env bash
# What the GUIs cost: start to first frame (the window mapped by sway; the dock's
# exclusive zone taken), CPU while idle over SECONDS (default 30), resident memory.
# Runs beside a private headless sway and an agent with the echo provider:
#   scripts/with-headless-sway.sh benches/gui-footprint.sh [SECONDS]
# after `cargo build --release -p aios-agent -p aios-chat -p aios-dock`.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
bin="${CARGO_TARGET_DIR:-target}/release"
[ -n "${WAYLAND_DISPLAY:-}" ] && [ -n "${SWAYSOCK:-}" ] || { echo "run me under scripts/with-headless-sway.sh" >&2; exit 1; }
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
mkdir -p "$dir/home" "$dir/config/aios"
printf '[provider]\ntype = "echo"\n[voice]\nenabled = false\n' >"$dir/config/aios/agent.toml"
export HOME="$dir/home" XDG_CONFIG_HOME="$dir/config" AIOS_SOCKET="$dir/agent.sock"
"$bin/aios-agent" 2>/dev/null & pids+=($!)
for _ in $(seq 100); do [ -S "$AIOS_SOCKET" ] && break; sleep 0.05; done

now_ms() { date +%s%3N; }
# utime + stime + the reaped children's (the dock runs wpctl every 5 s to read the volume).
ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"; }
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)

start=$(now_ms)
"$bin/aios-chat" 2>/dev/null & chat=$!; pids+=($chat)
until swaymsg -t get_tree -r | grep -q '"pid": '"$chat"; do sleep 0.01; done
chat_ms=$(( $(now_ms) - start ))

start=$(now_ms)
"$bin/aios-dock" 2>/dev/null & dock=$!; pids+=($dock)
until swaymsg -t get_workspaces -r | grep -q '"height": 672'; do sleep 0.01; done
dock_ms=$(( $(now_ms) - start ))

sleep 3 # let both settle (connect, history, status)
c0=$(ticks "$chat"); d0=$(ticks "$dock"); a0=$(ticks "${pids[0]}")
sleep "$secs"
c1=$(ticks "$chat"); d1=$(ticks "$dock"); a1=$(ticks "${pids[0]}")
pct() { awk -v t="$1" -v hz="$hz" -v s="$secs" 'BEGIN {printf "%.2f", 100 * t / hz / s}'; }
# For benches/collect-results.py.
mkdir -p "${CARGO_TARGET_DIR:-target}/bench"
printf '{"secs": %s, "chat_first_frame_ms": %s, "dock_first_frame_ms": %s, "chat_idle_cpu_pct": %s, "dock_idle_cpu_pct": %s, "chat_rss_mb": %s, "dock_rss_mb": %s}\n' \
    "$secs" "$chat_ms" "$dock_ms" "$(pct $((c1 - c0)))" "$(pct $((d1 - d0)))" "$(rss_mb "$chat")" "$(rss_mb "$dock")" \
    >"${CARGO_TARGET_DIR:-target}/bench/gui-footprint.json"
echo "| program | start to first frame | idle CPU over ${secs} s | resident memory |"
echo "|---|---|---|---|"
echo "| aios-chat | ${chat_ms} ms | $(pct $((c1 - c0)))% of a core | $(rss_mb "$chat") MB |"
echo "| aios-dock | ${dock_ms} ms | $(pct $((d1 - d0)))% of a core | $(rss_mb "$dock") MB |"
echo "| aios-agent (echo provider, beside them) | | $(pct $((a1 - a0)))% of a core | $(rss_mb "${pids[0]}") MB |"
