#!/usr/bin/env python3
"""The engines underneath, side by side with our stages, on the same input with the
same settings: whisper.cpp through its own Python binding (`pywhispercpp`) against
our STT stage, and Piper's own package (`piper-tts`, warm) against our TTS time to
the first audio. Reads what `voice_bench --only engines` measured and the settings it
used ($CARGO_TARGET_DIR/bench/engines-ours.json), prints ratios ours/theirs and
writes $CARGO_TARGET_DIR/bench/engines.json. Run by `make bench-reference`, which
installs both packages into a project-local virtual environment (never `make
test`)."""
import json, os, statistics, sys, time, wave

import numpy as np

TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(os.path.dirname(__file__), "..", "target")
OURS = os.path.join(TARGET, "bench", "engines-ours.json")


def read_16k(path):
    with wave.open(path) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2, path
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768


def p50(xs):
    return statistics.median(xs)


def whisper_side(stt, reps):
    from pywhispercpp.model import Model
    import _pywhispercpp

    model = Model(
        stt["model"],
        redirect_whispercpp_logs_to=None,
        n_threads=stt["threads"],
        language=stt["language"],
        no_context=stt["no_context"],
        single_segment=stt["single_segment"],
        suppress_nst=stt["suppress_nst"],
        temperature_inc=stt["temperature_inc"],
        greedy={"best_of": stt["greedy_best_of"]},
        no_timestamps=False,
        print_progress=False,
        print_realtime=False,
    )
    rows = []
    for clip in stt["clips"]:
        audio = read_16k(clip["file"])
        # Our stage pads to 1.2 s; the fixtures are all longer, so both get the same.
        settings = dict(audio_ctx=clip["audio_ctx"], max_tokens=clip["max_tokens"])
        model.transcribe(audio, **settings)  # warm-up, as ours has
        times, text = [], ""
        for _ in range(reps):
            t = time.perf_counter()
            segs = model.transcribe(audio, **settings)
            times.append((time.perf_counter() - t) * 1000)
            text = "".join(s.text for s in segs).strip()
        theirs = p50(times)
        rows.append(dict(file=os.path.basename(clip["file"]), words=clip["words"], ours_ms=clip["p50_ms"],
                         theirs_ms=round(theirs, 1), ratio=round(clip["p50_ms"] / theirs, 3),
                         ours_text=clip["text"], theirs_text=text, audio_ctx=clip["audio_ctx"]))
    return rows, getattr(_pywhispercpp, "__version__", "?")


def piper_side(tts, reps):
    from piper import PiperVoice

    voice = PiperVoice.load(tts["voice"])
    list(voice.synthesize("Warm up."))
    rows = []
    for s in tts["sentences"]:
        times, sound = [], []
        for _ in range(reps):
            t = time.perf_counter()
            first = next(iter(voice.synthesize(s["text"])))
            times.append((time.perf_counter() - t) * 1000)
            assert first.audio_int16_bytes, "piper gave no audio"
            # Its first sound: the first sample above the level AIOS's speaker
            # cuts the lead-in at (aios_voice::tts::LEAD_IN_LEVEL, 0.002 of full scale).
            audio = first.audio_int16_array
            loud = next((i for i, v in enumerate(audio) if abs(int(v)) > 0.002 * 32768), len(audio))
            sound.append(times[-1] + loud * 1000 / first.sample_rate)
        theirs, theirs_sound = p50(times), p50(sound)
        rows.append(dict(text=s["text"], ours_ms=s["p50_ms"], theirs_ms=round(theirs, 1),
                         ratio=round(s["p50_ms"] / theirs, 3),
                         ours_sound_ms=round(s["first_sound_p50_ms"], 1),
                         theirs_sound_ms=round(theirs_sound, 1),
                         sound_ratio=round(s["first_sound_p50_ms"] / theirs_sound, 3)))
    return rows


def main():
    if not os.path.exists(OURS):
        sys.exit(f"{OURS} is missing: run `voice_bench --only engines` first (make bench-reference does)")
    ours = json.load(open(OURS))
    reps = ours["reps"]
    stt_rows, pyw_version = whisper_side(ours["stt"], reps)
    tts_rows = piper_side(ours["tts"], reps)
    print(f"\nSTT, whisper base, {ours['stt']['threads']} threads, greedy, audio_ctx sized per clip, p50 of {reps}:")
    print("| fixture | ours | pywhispercpp | ours/theirs | ours heard | theirs heard |\n|---|---|---|---|---|---|")
    for r in stt_rows:
        print(f"| {r['file']} | {r['ours_ms']} ms | {r['theirs_ms']} ms | {r['ratio']} | {r['ours_text']} | {r['theirs_text']} |")
    print("\nTTS, the same Piper voice, warm: time to the first sentence's audio (the same work"
          " on both sides), and to its first sound (that plus the silence the audio starts with;"
          " AIOS's speaker cuts it from a reply's first sentence):")
    print("| sentence | ours | piper-tts | ours/theirs | first sound: ours | piper-tts | ours/theirs |"
          "\n|---|---|---|---|---|---|---|")
    for r in tts_rows:
        print(f"| {r['text']} | {r['ours_ms']} ms | {r['theirs_ms']} ms | {r['ratio']} "
              f"| {r['ours_sound_ms']} ms | {r['theirs_sound_ms']} ms | {r['sound_ratio']} |")
    stt_ratio = p50([r["ratio"] for r in stt_rows])
    tts_ratio = p50([r["ratio"] for r in tts_rows])
    tts_sound_ratio = p50([r["sound_ratio"] for r in tts_rows])
    print(f"\nstt_ratio (median over fixtures) {stt_ratio:.3f}; tts_ratio {tts_ratio:.3f};"
          f" tts_first_sound_ratio {tts_sound_ratio:.3f}")
    out = dict(stt_ratio=stt_ratio, tts_ratio=tts_ratio, tts_first_sound_ratio=tts_sound_ratio,
               pywhispercpp=pyw_version,
               stt=stt_rows, tts=tts_rows, threads=ours["stt"]["threads"], reps=reps)
    path = os.path.join(TARGET, "bench", "engines.json")
    json.dump(out, open(path, "w"), indent=2)
    print(f"JSON in {path}")


if __name__ == "__main__":
    main()
