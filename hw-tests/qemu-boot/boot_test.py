#!/usr/bin/env python3
"""Boots the AIOS live ISO under QEMU (TCG, no KVM) and talks to it through virtual
audio; `make qemu-test` runs it (see README.md beside this file).

The guest's test units (only active with `aios.qemu-test` on the kernel line) report
on the serial line. This script:
  - serves an instant OpenAI-compatible model on 127.0.0.1, reached from the guest
    through QEMU's guestfwd (the local model under TCG would take many minutes);
    it records what the guest's agent sent, i.e. the transcript;
  - runs itself inside a private headless PipeWire (scripts/with-headless-audio.sh)
    and gives QEMU's sound card to it: the guest's microphone is that PipeWire's
    virtual mic, into which it plays the spoken command when the guest says it
    holds push-to-talk; the guest's speakers go to its null sink, recorded to a WAV;
  - takes a monitor screendump once the desktop is up and checks the dock's bar;
  - transcribes the guest's spoken reply on the host.
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
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
REPLY = "Paris is the capital of France."
REC_RATE = 16000
KEY_HOLD_AFTER_SPEECH = 10.0  # seconds Super+Space stays down after the command starts playing  # the host records the guest's speakers at this rate, mono
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


def pcm_after(path, start_s):
    """16-bit mono samples of a WAV that pw-record is still writing, from start_s."""
    data = open(path, "rb").read()
    at = data.find(b"data")
    body = data[at + 8:] if at >= 0 else data[44:]
    first = int(start_s * REC_RATE) * 2
    body = body[first:len(body) - len(body) % 2]
    return array.array("h", body)


def loud_blocks(samples):
    """One bool per 50 ms block: above the noise floor."""
    block = REC_RATE // 20
    out = []
    for i in range(0, len(samples) - block + 1, block):
        chunk = samples[i:i + block]
        out.append((sum(x * x for x in chunk[::4]) / (len(chunk) // 4)) ** 0.5 > 300)
    return out


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


def qmp_keys(sock_path, down, keys=("meta_l", "spc")):
    """Presses (down) or releases keys on the virtual keyboard through QMP's
    input-send-event: unlike the monitor's sendkey, the release waits for the test."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(30)
        s.connect(sock_path)
        f = s.makefile("rw")
        f.readline()  # the greeting
        for cmd in ({"execute": "qmp_capabilities"},
                    {"execute": "input-send-event", "arguments": {"events": [
                        {"type": "key", "data": {"down": down, "key": {"type": "qcode", "data": k}}}
                        for k in keys]}}):
            f.write(json.dumps(cmd) + "\n")
            f.flush()
            while True:  # skip events until the command's answer
                reply = json.loads(f.readline())
                if "return" in reply or "error" in reply:
                    break
            if "error" in reply:
                raise RuntimeError(f"QMP {cmd['execute']}: {reply['error']}")


def graph_later(path, after=3.0):
    """The host PipeWire's graph a few seconds into a spoken command: each node's
    state (running, idle, suspended) and what is linked to what, so a round that
    heard nothing shows whether QEMU's capture stream ran and was linked to the mic."""
    def snap():
        with open(path, "w") as f:
            r = subprocess.run(["pw-dump"], capture_output=True, text=True, timeout=20)
            try:
                for o in json.loads(r.stdout or "[]"):
                    info = o.get("info") or {}
                    props = info.get("props") or {}
                    if o.get("type", "").endswith(":Node"):
                        f.write(f"node {props.get('node.name')} ({props.get('media.class')}): {info.get('state')}\n")
            except ValueError:
                f.write(f"pw-dump: {r.stderr}\n")
            r = subprocess.run(["pw-link", "-l"], capture_output=True, text=True, timeout=20)
            f.write(f"\n$ pw-link -l\n{r.stdout}{r.stderr}")
    threading.Timer(after, snap).start()


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
    """The dock is a 48 px bar along the bottom. Its left end (the launcher
    buttons) differs from the desktop just above it, and it is not one flat colour."""
    w, h, px = read_ppm(path)
    left = w // 5

    def band(y0, y1):
        return b"".join(px[(y * w) * 3:(y * w + left) * 3] for y in range(y0, y1))

    bar, above = band(h - 48, h), band(h - 110, h - 60)
    mean = lambda b: sum(b) / max(1, len(b))
    colours = len(set(bar[i:i + 3] for i in range(0, len(bar), 3 * 5)))
    ok = abs(mean(bar) - mean(above)) > 8 and colours > 4
    return ok, {"bar_mean": round(mean(bar), 1), "above_mean": round(mean(above), 1),
                "bar_colours": colours, "size": f"{w}x{h}"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iso", default=os.path.join(ROOT, "iso/out/aios-amd64.iso"))
    ap.add_argument("--out", default=os.path.join(ROOT, "iso/out/qemu-test"))
    ap.add_argument("--command", default=os.path.join(ROOT, "benches/fixtures/commands/09-piper.wav"))
    ap.add_argument("--expect-heard", default="capital france")
    # Not "Paris": under TCG the first ~0.1 s of a reply is lost while the guest's
    # sink wakes up (whisper then hears "Eris is the capital of France").
    ap.add_argument("--expect-said", default="capital france")
    ap.add_argument("--timeout", type=int, help="seconds for the whole run (default 1500; 3000 with"
                    " --key or --rounds: whisper base under TCG took 5-6 min per command on a 2-core EPYC)")
    ap.add_argument("--memory", default="3072")
    # Opt-in: in its one run so far the model never got the second command, though
    # the key itself reached `aios ptt key` when tried by hand (see the README).
    ap.add_argument("--key", action="store_true", help="a second command through Super+Space held")
    ap.add_argument("--rounds", type=int, default=1,
                    help="spoken rounds by `aios ptt start`/`stop` in one boot (2 tells whether a second"
                         " press still hears the microphone; 0 with --key: the key's round alone)")
    ap.add_argument("--audiodev", default="pipewire", choices=["pipewire", "pa"],
                    help="QEMU's audio backend on the host's private PipeWire (pa: through pipewire-pulse)")
    ap.add_argument("--first-run", action="store_true",
                    help="boot with no config: the agent on its defaults (the local model), the chat's welcome"
                         " on screen; no spoken round")
    args = ap.parse_args()
    if args.timeout is None:
        args.timeout = 3000 if args.key or args.rounds > 1 else 1500

    if os.environ.get("AIOS_QEMU_TEST_AUDIO") != "1":
        # Inside a private PipeWire (QEMU's sound card, the mic, the speaker).
        wrapper = os.path.join(ROOT, "scripts/with-headless-audio.sh")
        os.execvp(wrapper, [wrapper, "env", "AIOS_QEMU_TEST_AUDIO=1", sys.executable, *sys.argv])
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

    # The guest's speakers, as they reach the host's null sink (its monitor).
    rec = subprocess.Popen(["pw-record", "-P", "stream.capture.sink=true", "--target", "aios-speaker",
                            "--rate", str(REC_RATE), "--channels", "1", "--format", "s16", out("speaker.wav")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rec_t0 = time.monotonic()

    append = (f"{BOOT_LINE} aios.qemu-test aios.qemu-test-model=http://10.0.2.100:8080/v1 "
              f"aios.qemu-test-hold=9" + (" aios.qemu-test-first-run=1" if args.first_run else "")
              + (" aios.qemu-test-key=1" if args.key else "")
              + (f" aios.qemu-test-rounds={args.rounds}" if args.rounds != 1 else ""))
    cmd = [qemu, "-accel", "tcg", "-cpu", "max", "-m", args.memory, "-smp", "2",
           "-cdrom", args.iso, "-kernel", out("vmlinuz"), "-initrd", out("initrd.img"),
           "-append", append, "-vga", "std", "-display", "none",
           "-serial", f"file:{out('serial.log')}", "-monitor", f"unix:{out('mon.sock')},server,nowait",
           "-qmp", f"unix:{out('qmp.sock')},server,nowait",
           "-nic", f"user,restrict=on,guestfwd=tcp:10.0.2.100:8080-tcp:127.0.0.1:{port}",
           # One HDA card on the host's PipeWire: the default source is the virtual
           # mic (aios-mic), the default sink the null sink (aios-speaker).
           "-audiodev", f"{args.audiodev},id=snd0", "-device", "intel-hda", "-device", "hda-duplex,audiodev=snd0"]
    log("starting QEMU: " + " ".join(cmd))
    vm = subprocess.Popen(cmd, stdout=open(out("qemu.log"), "w"),
                          stderr=subprocess.STDOUT)

    events, t = {}, {}
    started = time.monotonic()
    seen = 0
    shot_at = None
    released_s = None  # when the guest released push-to-talk, in speaker.wav's time
    reply_deadline = None
    key_deadline = None  # the second command, through the Super+Space key
    key_release_at = None  # when to let go of Super+Space
    spoken = 0  # SPEAKs so far
    def press_key():
        # Held until the guest says its key service listens and the command has been
        # played (QMP, not the monitor's sendkey with a fixed hold: under TCG the
        # press reached the agent 20 s after it was sent, when a 20 s hold had ended).
        nonlocal key_deadline
        log("pressing Super+Space; the command follows once the guest listens")
        qmp_keys(out("qmp.sock"), True)
        key_deadline = time.monotonic() + 1500

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
                    log("playing the command into the guest's microphone")
                    subprocess.Popen(["pw-play", "--target", "aios-mic-in", args.command])
                    spoken += 1
                    graph_later(out(f"pw-speak-{spoken}.txt"))
                if msg == "KEY-LISTENING":
                    log("the key service listens: playing the command into the guest's microphone")
                    subprocess.Popen(["pw-play", "--target", "aios-mic-in", args.command])
                    graph_later(out("pw-key.txt"))
                    key_release_at = time.monotonic() + KEY_HOLD_AFTER_SPEECH
                    if released_s is None:  # no spoken round before: the reply checks are the key's
                        released_s = time.monotonic() - rec_t0 + KEY_HOLD_AFTER_SPEECH
                if msg == "DONE" and args.key and args.rounds == 0:  # a run for the key alone
                    press_key()
                if msg == "RELEASED" and released_s is None:
                    released_s = time.monotonic() - rec_t0
                    # 10 min: whisper base under TCG took 5-6 min per command on a 2-core EPYC.
                    reply_deadline = time.monotonic() + 600
                if key == "chat-up":
                    shot_at = time.monotonic() + 30  # windows drawn under TCG
            seen = len(lines)
            if shot_at and time.monotonic() > shot_at:
                monitor(out("mon.sock"), f"screendump {out('screen.ppm')}")
                t["screenshot"] = time.monotonic() - started
                shot_at = None
            if args.first_run and "DONE" in events and "screenshot" in t:
                break
            if reply_deadline:
                # Done once the reply was heard and then 3 s of quiet, or at the deadline.
                loud = loud_blocks(pcm_after(out("speaker.wav"), released_s))
                replied = any(loud) and not any(loud[-60:]) and len(loud) - max(i for i, b in enumerate(loud) if b) >= 60
                if (replied and "DONE" in events) or time.monotonic() > reply_deadline:
                    reply_deadline = None
                    if args.rounds > 1 and "DONE" not in events:
                        reply_deadline = time.monotonic() + 5  # later rounds: wait for the guest's DONE
                        continue
                    if not args.key:
                        break
                    # The same command again, this time holding Super+Space on the
                    # virtual keyboard (labwc; `aios ptt key` reads /dev/input).
                    if key_deadline is None:
                        press_key()
            if key_release_at and time.monotonic() > key_release_at:
                log("releasing Super+Space")
                qmp_keys(out("qmp.sock"), False)
                key_release_at = None
                if args.rounds == 0:
                    reply_deadline = time.monotonic() + 600
            # The guest reports the key service's log once the command was heard (KEY-DONE).
            # With --rounds 0 the reply checks are the key's: wait for its reply too
            # (KEY-DONE came 30 s after the transcript, before the reply was spoken).
            waiting_reply = args.rounds == 0 and (reply_deadline is not None or key_release_at is not None)
            if key_deadline and (("KEY-DONE" in events and not waiting_reply) or time.monotonic() > key_deadline):
                break
    finally:
        if not os.path.exists(out("screen.ppm")) and vm.poll() is None:
            monitor(out("mon.sock"), f"screendump {out('screen.ppm')}")
        if vm.poll() is None:
            try:
                monitor(out("mon.sock"), "quit")
                vm.wait(30)
            except Exception:
                vm.kill()
        rec.send_signal(2)  # pw-record completes the WAV header on SIGINT
        rec.wait(10)
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
    if args.first_run:
        status = " ".join(events.get("status", []))
        check("with no config the agent runs on the local model", "provider: local" in status, status)
        check("aios status says there is no config yet", "none yet" in status, status)
        words = ocr(out("screen.ppm")) if os.path.exists(out("screen.ppm")) else ""
        check("the chat's welcome is on screen (screendump, OCR)", "local model" in words.lower(),
              f"OCR read: {' '.join(words.split())[:400]!r}")
        return report(args, t, checks, events)
    heard = " ".join(Model.heard).lower()
    want = args.expect_heard.lower().split()
    check("the agent sent the spoken command to the model", all(w in heard for w in want),
          f"model got: {Model.heard!r}")
    loud, first, reply_text = 0.0, None, ""
    if os.path.exists(out("speaker.wav")) and released_s is not None:
        blocks = loud_blocks(pcm_after(out("speaker.wav"), released_s))
        loud = sum(blocks) / 20
        first = released_s + blocks.index(True) / 20 if any(blocks) else None
        if first is not None:
            subprocess.run(["sox", out("speaker.wav"), out("reply.wav"), "trim", str(max(0, first - 0.3)), "15"],
                           check=False)
            # The host's own `aios` (`make qemu-test` builds it) and its whisper model.
            dirs = [os.environ.get("CARGO_TARGET_DIR"), os.path.join(ROOT, "target"),
                    os.path.expanduser("~/.cache/aios/target")]
            found = [p for p in (os.path.join(d, "release/aios") for d in dirs if d) if os.access(p, os.X_OK)]
            if found:
                r = subprocess.run([found[0], "transcribe", out("reply.wav")], capture_output=True, text=True)
                reply_text = r.stdout.strip() or r.stderr.strip()
            else:
                reply_text = "(no host `aios` to transcribe with: cargo build --release -p aios-cli)"
            t["reply"] = first - released_s  # seconds from the release to the first reply audio
    for n in range(2, args.rounds + 1):
        got = Model.heard[n - 1] if len(Model.heard) >= n else ""
        check(f"spoken round {n} (aios ptt start/stop again) sent the command again",
              all(w in got.lower() for w in want), f"model got: {got!r}")
    if args.key:
        got = Model.heard[args.rounds] if len(Model.heard) > args.rounds else ""
        check("holding Super+Space (aios ptt key) sent the command again",
              all(w in got.lower() for w in want), f"model got: {got!r}")
    check("a spoken reply reached the speakers (not silent)", loud >= 0.5, f"{loud:.1f} s above the noise floor")
    check("whisper on the host hears the reply",
          all(w in reply_text.lower() for w in args.expect_said.lower().split()),
          f"heard: {reply_text!r}")

    return report(args, t, checks, events)


def ocr(ppm):
    """The screendump's words as tesseract reads them, from a copy at twice the size
    (the chat's 14 px text is small for it)."""
    w, h, px = read_ppm(ppm)
    rows = []
    for y in range(h):
        row = px[y * w * 3:(y + 1) * w * 3]
        wide = b"".join(row[x:x + 3] * 2 for x in range(0, len(row), 3))
        rows += [wide, wide]
    big = ppm + ".2x.ppm"
    with open(big, "wb") as f:
        f.write(f"P6\n{w * 2} {h * 2}\n255\n".encode() + b"".join(rows))
    r = subprocess.run(["tesseract", big, "-"], capture_output=True, text=True)
    return r.stdout


def report(args, t, checks, events):
    # ---- report -------------------------------------------------------------
    print("\nTiming (seconds since QEMU started, TCG on this host):")
    rows = [("serial login prompt", t.get("login")), ("test unit's first line (systemd up)", t.get("test-unit-started", t.get("binary"))),
            ("labwc up", t.get("labwc-up")), ("agent answers", t.get("agent-ready")),
            ("dock up", t.get("dock-up")), ("chat up", t.get("chat-up")),
            ("voice took the press", t.get("SPEAK")),
            ("release seen to first reply audio (s)", t.get("reply"))]
    for name, v in rows:
        print(f"  {name:<46} {'-' if v is None else f'{v:7.1f}'}")
    print("\nChecks:")
    for name, ok, detail in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}" + (f"  ({detail})" if detail else ""))
    with open(os.path.join(args.out, "result.json"), "w") as f:
        json.dump({"timing_s": dict(rows), "checks": [{"name": n, "ok": o, "detail": d} for n, o, d in checks],
                   "events": events}, f, indent=2)
    print(f"\nArtifacts: {args.out} (serial.log, screen.png, speaker.wav, reply.wav, result.json)")
    return 0 if all(ok for _, ok, _ in checks) else 1


T0 = time.monotonic()
if __name__ == "__main__":
    sys.exit(main())
