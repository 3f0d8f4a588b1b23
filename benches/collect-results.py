#!/usr/bin/env python3
"""Collects the latency benches' latest JSON ($CARGO_TARGET_DIR/bench/: engines.json
from `make bench-reference`, voice-to-voice-instant.json and voice-to-voice-local.json
from `voice_to_voice`, footprint.json and gui-footprint.json from the footprint
scripts) into benches/results/<hostname>-<date>.json with flat keys a
script can read, and prints them as a markdown table. A missing input leaves its keys
out and says so."""
import datetime, json, os, socket, sys

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(HERE, "..", "target")
BENCH = os.path.join(TARGET, "bench")


def load(name):
    path = os.path.join(BENCH, name)
    if not os.path.exists(path):
        print(f"collect-results: {path} is missing; its keys are left out", file=sys.stderr)
        return None
    return json.load(open(path))


flat = {"host": socket.gethostname(), "date": datetime.date.today().isoformat(),
        "cpus": os.cpu_count(), "reference": "2-core machine: the low-end reference" if os.cpu_count() <= 2 else "",
        "loadavg": open("/proc/loadavg").read().split()[:3],
        "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
        "memory_gib": round(int(open("/proc/meminfo").readline().split()[1]) / 1048576, 1)}
if (e := load("engines.json")):
    flat.update(stt_ratio=round(e["stt_ratio"], 3), tts_ratio=round(e["tts_ratio"], 3))
    if "tts_first_sound_ratio" in e:
        flat.update(tts_first_sound_ratio=round(e["tts_first_sound_ratio"], 3))


def stages(prefix, st):
    flat[f"{prefix}_p50_ms"] = st["sink_p50_ms"]
    flat[f"{prefix}_p95_ms"] = st["sink_p95_ms"]
    for stage in ("final", "token", "handed"):
        flat[f"{prefix}_{stage}_p50_ms"] = st[f"{stage}_p50_ms"]
    flat[f"{prefix}_utterances"] = st.get("utterances")


if (v := load("voice-to-voice-instant.json")):
    st = v["stages"]
    stages("voice_to_voice", st)
    if "overhead_pct" in st:
        flat.update(compute_floor_p50_ms=st["compute_floor_p50_ms"], overhead_ms=st["overhead_ms"],
                    overhead_pct=round(st["overhead_pct"], 1))
if (v := load("voice-to-voice-local.json")):
    # The local model per kind: an answer with no tool, and one read-only tool turn.
    for kind, prefix in (("none", "voice_to_voice_local"), ("read", "voice_to_voice_tool")):
        if kind in v.get("by_kind", {}):
            stages(prefix, v["by_kind"][kind])
        else:
            print(f"collect-results: voice-to-voice-local.json has no kind {kind!r} (an older run?)", file=sys.stderr)
if (f := load("footprint.json")):
    flat.update(idle_cpu_pct=f["agent_idle_cpu_pct"], worker_idle_cpu_pct=f["worker_idle_cpu_pct"],
                listening_cpu_pct=f["agent_listening_cpu_pct"], agent_rss_mb=f["agent_rss_mb"],
                worker_rss_mb=f["worker_rss_mb"], ready_to_listen_ms=f["ready_to_listen_ms"],
                first_answer_ms=f["first_answer_ms"], warm_answer_ms=f["warm_answer_ms"])
if (g := load("gui-footprint.json")):
    flat.update({k: g[k] for k in ("chat_idle_cpu_pct", "dock_idle_cpu_pct", "chat_rss_mb", "dock_rss_mb",
                                   "chat_first_frame_ms", "dock_first_frame_ms")})
if (lb := load("loopback.json")):
    # hw-tests/run-on-target.sh: the real speaker-to-microphone path.
    flat.update(loopback_heard=lb["heard"])
    if lb["heard"]:
        flat.update(loopback_delay_ms=lb["delay_ms"], loopback_level_dbfs=lb["level_dbfs"],
                    loopback_snr_db=lb["snr_db"])
# `--quick` (a dry run's few repetitions): a file of its own, not committed.
suffix = "-quick" if "--quick" in sys.argv[1:] else ""
out = os.path.join(HERE, "results", f"{flat['host']}-{flat['date']}{suffix}.json")
os.makedirs(os.path.dirname(out), exist_ok=True)
json.dump(flat, open(out, "w"), indent=2)
print("| key | value |\n|---|---|")
for k, v in flat.items():
    print(f"| `{k}` | {v} |")
print(f"\nwritten to {os.path.relpath(out)}")
