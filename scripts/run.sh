#!/usr/bin/env bash
# `make run`: starts aios-agent, then the desktop surfaces on Wayland, else `aios chat`
# in this terminal. The agent stops when this script ends.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${CARGO_TARGET_DIR:-target}/release"
STATE="${XDG_STATE_HOME:-$HOME/.local/state}/aios"
mkdir -p "$STATE"
LOG="$STATE/agent.log"

"$BIN/aios-agent" 2>>"$LOG" &
AGENT=$!
trap 'kill "$AGENT" 2>/dev/null; wait "$AGENT" 2>/dev/null || true' EXIT
# `aios status` retries for up to 5 s while the agent binds its socket.
if ! "$BIN/aios" status >/dev/null; then
  echo "aios-agent did not start; its log is $LOG:" >&2
  tail -n 20 "$LOG" >&2
  exit 1
fi
echo "aios-agent running (log: $LOG)"
# On a Wayland desktop the dock and the chat window; elsewhere the terminal chat.
if [ -n "${WAYLAND_DISPLAY:-}" ] && [ -x "$BIN/aios-chat" ]; then
  if [ -x "$BIN/aios-dock" ]; then
    "$BIN/aios-dock" 2>>"$STATE/dock.log" &
    DOCK=$!
    trap 'kill "$DOCK" "$AGENT" 2>/dev/null; wait 2>/dev/null || true' EXIT
  fi
  "$BIN/aios-chat"
else
  "$BIN/aios" chat
fi
