#!/usr/bin/env python3
"""Plays a tone through the speaker and captures it with the microphone, through the
session's PipeWire (pw-play and pw-record), and reports what came back: the tone's
level in the capture (dBFS), the room's level before it (the noise floor), their
difference, and the delay from starting the player to hearing the tone.

  hw-tests/loopback-check.py [--play-target NODE] [--capture-target NODE] [--json OUT]

With no targets it uses the default sink and source (a real machine: hold the
microphone near the speaker, volume at about half). The delay includes pw-play's
own start (a few tens of ms on a slow machine), so it is an upper bound of the
device path's latency. A tone that never rises above the floor is a failed check
(exit 1): the microphone or the speaker is muted, or they are not in the same room.
"""
import argparse, json, math, os, struct, subprocess, sys, tempfile, threading, time, wave

RATE = 48000
TONE_HZ = 1000
LEAD_S, TONE_S, TAIL_S = 0.3, 0.5, 0.7
BLOCK = RATE // 100  # 10 ms


def tone_wav(path):
    """0.3 s of silence, then 0.5 s of a 1 kHz sine, -12 dBFS peak (-15.1 RMS), 5 ms ramps."""
    n_lead, n_tone = int(LEAD_S * RATE), int(TONE_S * RATE)
    ramp = int(0.005 * RATE)
    amp = 10 ** (-12 / 20)
    samples = [0.0] * n_lead
    for i in range(n_tone):
        g = min(1.0, i / ramp, (n_tone - 1 - i) / ramp)
        samples.append(amp * g * math.sin(2 * math.pi * TONE_HZ * i / RATE))
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(b"".join(struct.pack("<h", round(s * 32767)) for s in samples))


def dbfs(block):
    if not block:
        return -120.0
    rms = math.sqrt(sum(s * s for s in block) / len(block)) / 32768
    return 20 * math.log10(max(rms, 1e-6))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--play-target", help="sink to play into (default: the default sink)")
    ap.add_argument("--capture-target", help="source to capture from (default: the default source)")
    ap.add_argument("--json", help="write the results here as JSON")
    args = ap.parse_args()
    for tool in ("pw-play", "pw-record"):
        if subprocess.run(["which", tool], capture_output=True).returncode:
            sys.exit(f"loopback-check: {tool} is missing; install pipewire-bin (`make setup`)")

    rec_cmd = ["pw-record", "--rate", str(RATE), "--channels", "1", "--format", "s16", "--latency", "10ms"]
    if args.capture_target:
        rec_cmd += ["--target", args.capture_target]
    rec = subprocess.Popen(rec_cmd + ["-"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Each 10 ms block with the time its last byte arrived: the clock the tone's
    # onset is read against.
    blocks, lock = [], threading.Lock()

    def reader():
        while True:
            data = rec.stdout.read(BLOCK * 2)
            if not data or len(data) < BLOCK * 2:
                return
            with lock:
                blocks.append((time.monotonic(), struct.unpack(f"<{BLOCK}h", data)))

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    deadline = time.monotonic() + 5
    while not blocks:
        if time.monotonic() > deadline or rec.poll() is not None:
            err = rec.stderr.read().decode(errors="replace").strip() if rec.poll() is not None else ""
            sys.exit(f"loopback-check: the microphone gave no samples in 5 s ({err or 'no error'}); "
                     "is PipeWire running in this session (XDG_RUNTIME_DIR)?")
        time.sleep(0.01)
    time.sleep(0.5)  # the floor: half a second of the room before the tone

    with tempfile.TemporaryDirectory() as tmp:
        wav = os.path.join(tmp, "tone.wav")
        tone_wav(wav)
        play_cmd = ["pw-play"] + (["--target", args.play_target] if args.play_target else []) + [wav]
        started = time.monotonic()
        play = subprocess.run(play_cmd, capture_output=True, text=True)
        if play.returncode:
            sys.exit(f"loopback-check: pw-play failed: {play.stderr.strip()}")
    time.sleep(TAIL_S)
    rec.terminate()
    rec.wait()
    t.join(timeout=2)

    with lock:
        got = list(blocks)
    before = [s for at, b in got if at < started for s in b]
    floor = dbfs(before[-int(0.4 * RATE):])
    # The tone starts LEAD_S into the file; the first block 20 dB over the floor
    # (and over -50 dBFS) after the player started is where it was heard.
    threshold = max(floor + 20, -50)
    onset = None
    for at, b in got:
        if at >= started and dbfs(b) > threshold:
            onset = at - len(b) / RATE  # the block's first sample, by arrival
            break
    result = {"floor_dbfs": round(floor, 1), "threshold_dbfs": round(threshold, 1)}
    if onset is None:
        result.update(heard=False)
        print(json.dumps(result))
        print("loopback-check: the tone was not heard above the room's level; unmute the "
              "microphone and the speaker (`wpctl status`), raise the volume, or bring them "
              "closer", file=sys.stderr)
        if args.json:
            json.dump(result, open(args.json, "w"), indent=2)
        sys.exit(1)
    after = [s for at, b in got if onset + 0.05 <= at - len(b) / RATE <= onset + TONE_S - 0.05 for s in b]
    level = dbfs(after)
    delay_ms = round((onset - started - LEAD_S) * 1000)
    result.update(heard=True, level_dbfs=round(level, 1), snr_db=round(level - floor, 1),
                  delay_ms=delay_ms, played_rms_dbfs=-15.1)
    print(f"| tone played at | heard at | room before it | difference | delay (player start to heard, upper bound) |")
    print(f"|---|---|---|---|---|")
    print(f"| -15.1 dBFS RMS (-12 peak) | {level:.1f} dBFS RMS | {floor:.1f} dBFS | {level - floor:.1f} dB | {delay_ms} ms |")
    if args.json:
        json.dump(result, open(args.json, "w"), indent=2)


if __name__ == "__main__":
    main()
