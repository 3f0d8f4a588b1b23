#!/usr/bin/env python3
"""Boots the AIOS live ISO under QEMU (TCG, no KVM) and talks to it through virtual
audio; `make qemu-test` runs it (see README.md beside this file).

The guest's test units (only active with `aios.qemu-test` on the kernel line) report
on the serial line. This script:
  - serves an instant OpenAI-compatible model on 127.0.0.1, reached from the guest
    through QEMU's guestfwd (the local model under TCG would take many minutes);
    it records what the guest's agent sent, i.e. the transcript;
  - feeds the guest microphone from a FIFO (ALSA `file` plugin): silence, and the
    spoken command when the guest says it holds push-to-talk;
  - takes a monitor screendump once the desktop is up and checks the dock's bar;
  - records the guest's speakers to a WAV and transcribes the reply on the host.
Exit status 0 only when every check passed; artifacts stay in --out.
"""
import argparse
import array
import http.server
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import wave
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
REPLY = "Paris is the capital of France."
RATE, CHANNELS = 44100, 2  # QEMU's audio defaults; the FIFO carries raw S16LE
BOOT_LINE = ("boot=live components quiet console=tty0 console=ttyS0,115200n8 "
             "username=user locales=C.UTF-8")


def log(msg):
    print(f"[{time.monotonic() - T0:7.1f}s] {msg}", flush=True)


class Model(http.server.BaseHTTPRequestHandler):
    """OpenAI chat completions: one fixed sentence, streamed or not."""
    heard = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        users = [m.get("content") for m in body.get("messages", []) if m.get("role") == "user"]
        Model.heard.append(users[-1] if users else "")
        if body.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for delta, finish in (({"role": "assistant", "content": REPLY}, None), ({}, "stop")):
                ev = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
                self.wfile.write(b"data: " + json.dumps(ev).encode() + b"\n\n")
            self.wfile.write(b"data: [DONE]\n\n")
        else:
            out = json.dumps({"choices": [{"index": 0, "finish_reason": "stop",
                                           "message": {"role": "assistant", "content": REPLY}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    def do_GET(self):  # a model list, for providers that ask
        out = json.dumps({"data": [{"id": "instant", "object": "model"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


def mic_feeder(fifo, speech, speak, done):
    """Keeps the guest microphone fed: silence, then the command once `speak` is
    set. Writes block while the guest does not capture, so the pipe paces this."""
    silence = bytes(RATE // 10 * CHANNELS * 2)
    while not done.is_set():
        try:
            with open(fifo, "wb", buffering=0) as f:
                spoken = False
                while not done.is_set():
                    if speak.is_set() and not spoken:
                        log("playing the command into the guest microphone")
                        f.write(speech)
                        spoken = True
                    f.write(silence)
        except (BrokenPipeError, OSError):
            time.sleep(0.2)  # QEMU closed the capture device; it reopens it


def raw_speech(wav_path, tmp):
    """The command WAV as raw S16LE 44.1 kHz stereo, with 0.3 s of silence after."""
    out = os.path.join(tmp, "command.raw")
    subprocess.run(["sox", wav_path, "-t", "raw", "-e", "signed", "-b", "16", "-L",
                    "-r", str(RATE), "-c", str(CHANNELS), out], check=True)
    return open(out, "rb").read() + bytes(int(RATE * 0.3) * CHANNELS * 2)


def monitor(sock_path, command):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock_path)
    s.settimeout(10)
    s.recv(4096)  # the banner
    s.sendall(command.encode() + b"\n")
    time.sleep(1.0)
    try:
        s.recv(65536)
    except OSError:
        pass
    s.close()


def read_ppm(path):
    with open(path, "rb") as f:
        data = f.read()
    parts = re.match(rb"P6\s+(\d+)\s+(\d+)\s+(\d+)\s", data)
    w, h = int(parts.group(1)), int(parts.group(2))
    return w, h, data[parts.end():]


def ppm_to_png(src, dst):
    """The screendump as a PNG (zlib only) for people and issue notes."""
    w, h, px = read_ppm(src)
    raw = b"".join(b"\x00" + px[y * w * 3:(y + 1) * w * 3] for y in range(h))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    with open(dst, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def dock_visible(path):
    """The dock is a 48 px bar along the bottom: those rows differ from the desktop
    above them and are not one flat colour."""
    w, h, px = read_ppm(path)

    def row_mean(y):
        row = px[y * w * 3:(y + 1) * w * 3]
        return sum(row) / len(row)

    bar = [row_mean(y) for y in range(h - 48, h)]
    above = [row_mean(y) for y in range(h - 120, h - 60)]
    bar_pixels = px[(h - 48) * w * 3:]
    distinct = len(set(bar_pixels[i:i + 3] for i in range(0, len(bar_pixels), 3 * 7)))
    differs = abs(sum(bar) / len(bar) - sum(above) / len(above)) > 3
    return differs and distinct > 4, {"bar_mean": round(sum(bar) / len(bar), 1),
                                      "above_mean": round(sum(above) / len(above), 1),
                                      "bar_colours": distinct, "size": f"{w}x{h}"}


def wav_levels(path, start_s):
    """(seconds of non-silence after start_s, first loud second, samples) of the
    guest's speaker recording."""
    with wave.open(path) as w:
        rate, ch = w.getframerate(), w.getnchannels()
        w.setpos(min(int(start_s * rate), w.getnframes()))
        data = array.array("h", w.readframes(w.getnframes()))
    block = rate // 20 * ch
    loud, first = 0, None
    for i in range(0, len(data) - block, block):
        chunk = data[i:i + block]
        rms = (sum(x * x for x in chunk[::8]) / (len(chunk) // 8)) ** 0.5
        if rms > 300:
            loud += 1
            first = first if first is not None else start_s + i / ch / rate
    return loud / 20, first, rate, ch


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iso", default=os.path.join(ROOT, "iso/out/aios-amd64.iso"))
    ap.add_argument("--out", default=os.path.join(ROOT, "iso/out/qemu-test"))
    ap.add_argument("--command", default=os.path.join(ROOT, "benches/fixtures/commands/09-piper.wav"))
    ap.add_argument("--expect-heard", default="capital france")
    ap.add_argument("--expect-said", default="paris")
    ap.add_argument("--timeout", type=int, default=1500, help="seconds for the whole run")
    ap.add_argument("--memory", default="3072")
    args = ap.parse_args()

    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        sys.exit("qemu-system-x86_64 is missing: `make qemu-deps` installs QEMU 10 from bookworm-backports")
    if not os.path.exists(args.iso):
        sys.exit(f"{args.iso} is missing: run `make iso` first")
    shutil.rmtree(args.out, ignore_errors=True)
    os.makedirs(args.out)
    out = lambda name: os.path.join(args.out, name)

    # The ISO's own kernel and initrd, booted directly so the test can add its
    # switches to the kernel line; the ISO is the CD all the same.
    subprocess.run(["xorriso", "-osirrox", "on", "-indev", args.iso,
                    "-extract", "/live/vmlinuz", out("vmlinuz"),
                    "-extract", "/live/initrd.img", out("initrd.img")],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Model)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    fifo = out("mic.raw")
    os.mkfifo(fifo)
    with open(out("asoundrc"), "w") as f:
        f.write(f'pcm.qemu_in {{ type file; slave.pcm "null"; infile "{fifo}"; format "raw" }}\n')
    home = out("home")
    os.makedirs(home)
    shutil.copy(out("asoundrc"), os.path.join(home, ".asoundrc"))
    speak, done = threading.Event(), threading.Event()
    threading.Thread(target=mic_feeder, args=(fifo, raw_speech(args.command, args.out), speak, done),
                     daemon=True).start()

    append = (f"{BOOT_LINE} aios.qemu-test aios.qemu-test-model=http://10.0.2.100:8080/v1 "
              f"aios.qemu-test-hold=9")
    cmd = [qemu, "-accel", "tcg", "-cpu", "max", "-m", args.memory, "-smp", "2",
           "-cdrom", args.iso, "-kernel", out("vmlinuz"), "-initrd", out("initrd.img"),
           "-append", append, "-vga", "std", "-display", "none",
           "-serial", f"file:{out('serial.log')}", "-monitor", f"unix:{out('mon.sock')},server,nowait",
           "-nic", f"user,restrict=on,guestfwd=tcp:10.0.2.100:8080-tcp:127.0.0.1:{port}",
           "-audiodev", f"wav,id=out0,path={out('speaker.wav')}",
           "-audiodev", "alsa,id=in0,in.dev=qemu_in,out.dev=null",
           "-device", "intel-hda,id=hda0", "-device", "hda-output,bus=hda0.0,audiodev=out0",
           "-device", "ich9-intel-hda,id=hda1", "-device", "hda-duplex,bus=hda1.0,audiodev=in0"]
    log("starting QEMU: " + " ".join(cmd))
    vm = subprocess.Popen(cmd, env={**os.environ, "HOME": home}, stdout=open(out("qemu.log"), "w"),
                          stderr=subprocess.STDOUT)

    events, t = {}, {}
    started = time.monotonic()
    seen = 0
    shot_at = None
    wav_mark = None
    try:
        while time.monotonic() - started < args.timeout and vm.poll() is None:
            time.sleep(0.2)
            try:
                text = open(out("serial.log"), errors="replace").read()
            except FileNotFoundError:
                continue
            lines = text.splitlines()
            if "login:" in text and "login" not in t:
                t["login"] = time.monotonic() - started
            for line in lines[seen:]:
                m = re.search(r"AIOS-TEST (\S+) (.*)", line)
                if not m:
                    continue
                msg = m.group(2)
                key = msg.split(":")[0].split(" ")[0]
                events.setdefault(key, []).append(msg)
                t.setdefault(key, time.monotonic() - started)
                log(f"guest: {msg}")
                if msg == "SPEAK":
                    time.sleep(0.5)
                    speak.set()
                if msg == "RELEASED":
                    wav_mark = os.path.getsize(out("speaker.wav"))
                if key == "chat-up":
                    shot_at = time.monotonic() + 30  # windows drawn under TCG
            seen = len(lines)
            if shot_at and time.monotonic() > shot_at:
                monitor(out("mon.sock"), f"screendump {out('screen.ppm')}")
                t["screenshot"] = time.monotonic() - started
                shot_at = None
            if "DONE" in events:
                if not os.path.exists(out("screen.ppm")):
                    monitor(out("mon.sock"), f"screendump {out('screen.ppm')}")
                break
    finally:
        if vm.poll() is None:
            try:
                monitor(out("mon.sock"), "quit")  # the wav audiodev writes its header on exit
                vm.wait(30)
            except Exception:
                vm.kill()
        done.set()
        server.shutdown()

    # ---- checks -------------------------------------------------------------
    checks = []

    def check(name, ok, detail=""):
        checks.append((name, bool(ok), detail))

    binaries = events.get("binary", [])
    status = {m.group(1): int(m.group(2)) for m in (re.match(r"binary (\S+) rc=(\d+)$", b) for b in binaries) if m}
    names = ["aios", "aios-agent", "aios-llm", "aios-confirm", "aios-chat", "aios-dock"]
    # Below 128: it ran and exited (the GUIs exit without a display); 132 = SIGILL.
    check("every binary runs on QEMU's CPU (no SIGILL)",
          all(n in status and status[n] < 128 for n in names), "; ".join(binaries))
    for key in ("labwc-up", "agent-ready", "dock-up", "chat-up"):
        check(f"{key}", key in events, f"{t.get(key, 0):.0f} s after QEMU started" if key in events else "never")
    failed = [e for k, v in events.items() if k == "FAIL" for e in v]
    check("no guest step failed", not failed, "; ".join(failed))
    if os.path.exists(out("screen.ppm")):
        ppm_to_png(out("screen.ppm"), out("screen.png"))
        ok, info = dock_visible(out("screen.ppm"))
        check("the dock's bar is on screen (screendump)", ok, json.dumps(info))
    else:
        check("the dock's bar is on screen (screendump)", False, "no screendump")
    heard = " ".join(Model.heard).lower()
    want = args.expect_heard.lower().split()
    check("the agent sent the spoken command to the model", all(w in heard for w in want),
          f"model got: {Model.heard!r}")
    loud, first, reply_text = 0.0, None, ""
    if os.path.exists(out("speaker.wav")) and wav_mark is not None:
        with wave.open(out("speaker.wav")) as w:
            rate, ch = w.getframerate(), w.getnchannels()
        mark_s = max(0, (wav_mark - 44) / (rate * ch * 2))
        loud, first, rate, ch = wav_levels(out("speaker.wav"), mark_s)
        if first is not None:
            subprocess.run(["sox", out("speaker.wav"), out("reply.wav"), "trim", str(max(0, first - 0.3)), "12"],
                           check=False)
            aios = shutil.which("aios") or os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release/aios")
            r = subprocess.run([aios, "transcribe", out("reply.wav")], capture_output=True, text=True)
            reply_text = r.stdout.strip() or r.stderr.strip()
            t["reply"] = first - mark_s  # seconds of guest audio after the release
    check("a spoken reply reached the speakers (not silent)", loud >= 0.5, f"{loud:.1f} s above the noise floor")
    check("whisper on the host hears the reply", args.expect_said.lower() in reply_text.lower(),
          f"heard: {reply_text!r}")

    # ---- report -------------------------------------------------------------
    print("\nTiming (seconds since QEMU started, TCG on this host):")
    rows = [("serial login prompt", t.get("login")), ("test unit started (systemd up)", t.get("test-unit-started")),
            ("labwc up", t.get("labwc-up")), ("agent answers", t.get("agent-ready")),
            ("dock up", t.get("dock-up")), ("chat up", t.get("chat-up")),
            ("voice took the press", t.get("SPEAK")),
            ("release to first reply audio (guest audio s)", t.get("reply"))]
    for name, v in rows:
        print(f"  {name:<46} {'-' if v is None else f'{v:7.1f}'}")
    print("\nChecks:")
    for name, ok, detail in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}" + (f"  ({detail})" if detail else ""))
    with open(out("result.json"), "w") as f:
        json.dump({"timing_s": dict(rows), "checks": [{"name": n, "ok": o, "detail": d} for n, o, d in checks],
                   "events": events}, f, indent=2)
    print(f"\nArtifacts: {args.out} (serial.log, screen.png, speaker.wav, reply.wav, result.json)")
    return 0 if all(ok for _, ok, _ in checks) else 1


T0 = time.monotonic()
if __name__ == "__main__":
    sys.exit(main())
