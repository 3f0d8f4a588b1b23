#!/usr/bin/env python3
"""Collects the latency benches' latest JSON ($CARGO_TARGET_DIR/bench/: engines.json
from `make bench-reference`, voice-to-voice-instant.json and voice-to-voice-local.json
from `voice_to_voice`) into benches/results/<hostname>-<date>.json with flat keys a
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
        "loadavg": open("/proc/loadavg").read().split()[:3]}
if (e := load("engines.json")):
    flat.update(stt_ratio=round(e["stt_ratio"], 3), tts_ratio=round(e["tts_ratio"], 3))
for llm, prefix in (("instant", "voice_to_voice"), ("local", "voice_to_voice_local")):
    if (v := load(f"voice-to-voice-{llm}.json")):
        st = v["stages"]
        flat[f"{prefix}_p50_ms"] = st["sink_p50_ms"]
        flat[f"{prefix}_p95_ms"] = st["sink_p95_ms"]
        for stage in ("final", "token", "handed"):
            flat[f"{prefix}_{stage}_p50_ms"] = st[f"{stage}_p50_ms"]
        if "overhead_pct" in st:
            flat.update(compute_floor_p50_ms=st["compute_floor_p50_ms"], overhead_ms=st["overhead_ms"],
                        overhead_pct=round(st["overhead_pct"], 1))
out = os.path.join(HERE, "results", f"{flat['host']}-{flat['date']}.json")
os.makedirs(os.path.dirname(out), exist_ok=True)
json.dump(flat, open(out, "w"), indent=2)
print("| key | value |\n|---|---|")
for k, v in flat.items():
    print(f"| `{k}` | {v} |")
print(f"\nwritten to {os.path.relpath(out)}")
