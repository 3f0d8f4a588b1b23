#!/usr/bin/env bash
# The latency bench on a real machine: what the machine is, the same bench as on the
# 2-core reference (benches/run-all.sh: fixtures through a private headless
# PipeWire, so the two compare), then a loopback check through this session's real
# speaker and microphone (a tone played and captured: its level and delay, which a
# person's voice-to-voice adds to the bench's numbers). Results go into
# benches/results/<hostname>-<date>.json beside the reference's; read them with
# hw-tests/README.md.
#
#   hw-tests/run-on-target.sh            on the target, in its desktop session
#   hw-tests/run-on-target.sh --dry-run  here: the loopback through a headless
#                                        PipeWire loopback, a quick bench
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
dry=
[ "${1:-}" = --dry-run ] && dry=1
out=$CARGO_TARGET_DIR/bench
mkdir -p "$out"

echo "== the machine"
cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
echo "$(hostname): $cpu, $(nproc) cores, $mem, kernel $(uname -r)"
# A machine whose CPU lacks AVX2 runs whisper and llama.cpp far slower: say so.
grep -qw avx2 /proc/cpuinfo || echo "note: no AVX2 on this CPU; expect slower STT and LLM stages"

echo; echo "== the loopback check (speaker to microphone)"
if [ -n "$dry" ]; then
    # Dry run: the tone goes into the headless loopback the voice tests use.
    scripts/with-headless-audio.sh hw-tests/loopback-check.py --play-target aios-mic-in --json "$out/loopback.json"
else
    [ -S "${XDG_RUNTIME_DIR:-/nonexistent}/pipewire-0" ] ||
        { echo "run-on-target: no PipeWire in this session; run me from the desktop's terminal" >&2; exit 1; }
    wpctl status | sed -n '/Audio/,/Video/p' | grep -E 'Sinks|Sources|\*' || true
    echo "Hold the microphone near the speaker, volume at about half; the tone starts in 3 s."
    sleep 3
    hw-tests/loopback-check.py --json "$out/loopback.json"
fi

echo; echo "== the bench"
benches/run-all.sh --with-loopback ${dry:+--quick}
