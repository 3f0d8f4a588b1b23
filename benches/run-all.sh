#!/usr/bin/env bash
# The latency issue's whole bench, in order: our STT and TTS stages beside the
# engines' own packages, voice to voice with the instant and the local model, the
# footprint of the agent, the worker and the GUIs, then the results file
# (benches/results/<hostname>-<date>.json) and its chart (benches/results/latency.svg).
# Each audio part runs in a private headless PipeWire (scripts/with-headless-audio.sh),
# so the numbers compare between machines; hw-tests/run-on-target.sh adds the real
# microphone and speaker. `make bench` runs it after the criterion benches.
#   benches/run-all.sh [--quick] [--with-loopback]
# --quick: fewer repetitions, for a dry run; --with-loopback: keep the loopback
# check hw-tests/run-on-target.sh has just written (otherwise a stale one is dropped).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
bin=$CARGO_TARGET_DIR/release
reps=3 per_kind=20 secs=60
for arg in "$@"; do
    case $arg in
        --quick) reps=1 per_kind=4 secs=10 ;;
        --with-loopback) keep_loopback=1 ;;
        *) echo "run-all: unknown option $arg" >&2; exit 2 ;;
    esac
done
[ -n "${keep_loopback:-}" ] || rm -f "$CARGO_TARGET_DIR/bench/loopback.json"
step() { printf '\n== %s\n' "$*"; }

step "build (release)"
# Two commands: `--bin` limits every package named with it to those binaries, so
# one command would leave a stale aios-agent behind (it happened).
cargo build --release -p aios-agent -p aios-llm -p aios-cli -p aios-chat -p aios-dock
cargo build --release -p aios-benches --bin voice_bench --bin voice_to_voice --bin plot_results
make -s models

step "the engines underneath: ours against pywhispercpp and piper-tts (.venv-bench)"
test -x .venv-bench/bin/python || python3 -m venv .venv-bench
.venv-bench/bin/python -m pip install -q pywhispercpp==1.5.1 piper-tts==1.8.0
"$bin/voice_bench" --only engines --reps $((reps * 2 + 1)) --threads 2
.venv-bench/bin/python benches/reference.py

step "voice to voice: the instant model (everything measured is ours) and the compute floor"
scripts/with-headless-audio.sh "$bin/voice_to_voice" --llm instant --reps "$reps" --threads 2
step "voice to voice: the local model, warm, no tool and one read-only tool"
scripts/with-headless-audio.sh "$bin/voice_to_voice" --llm local --reps 1 --min-per-kind "$per_kind" --threads 2

step "footprint: agent and worker with the local model, then the GUIs under headless sway"
scripts/with-headless-audio.sh benches/footprint.sh "$secs"
scripts/with-headless-audio.sh scripts/with-headless-sway.sh benches/gui-footprint.sh "$secs"

step "results"
if [ "$reps" = 1 ]; then
    python3 benches/collect-results.py --quick # no chart from a dry run's few repetitions
else
    python3 benches/collect-results.py
    "$bin/plot_results"
fi
