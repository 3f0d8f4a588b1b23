"""Helpers shared by fetch_models.py and install_onnxruntime.py (python3 stdlib only).

- where the download cache lives (~/.cache/aios, or $AIOS_CACHE_DIR),
- sha256 of files and streams,
- writing a file under a temporary name and renaming it into place only once
  its sha256 is right (so a final name never holds a partial or wrong file),
- fetching pinned artefacts with the ordinary clients (pip download,
  apt-get download) into the cache, verified by sha256.
"""
import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CHUNK = 1 << 20


class FetchError(Exception):
    """A failure to report to the user: the message says what failed and what to do."""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def human(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000


def cache_dir():
    if os.environ.get("AIOS_CACHE_DIR"):
        return Path(os.environ["AIOS_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "aios"


def downloads_dir():
    return cache_dir() / "downloads"


@contextlib.contextmanager
def locked(directory):
    """Holds an exclusive lock on DIRECTORY/.lock, so two runs (make -j, two
    clones sharing the cache) don't write the same files at once."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another run holding {directory / '.lock'} ...")
            fcntl.flock(f, fcntl.LOCK_EX)
        yield


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def mismatch(what, expected_sha, got_sha, expected_size, got_size, advice):
    lines = [f"{what}: sha256 mismatch",
             f"  expected {expected_sha} ({expected_size} bytes)",
             f"  got      {got_sha} ({got_size} bytes)"]
    return FetchError("\n".join(lines + ["  " + advice]))


def temp_name(final):
    """A temporary name beside FINAL (same directory, so the rename is atomic)."""
    return final.with_name(f".{final.name}.partial-{os.getpid()}")


def write_verified(final, chunks, sha, size, advice, label=None):
    """Streams CHUNKS into a temp file beside FINAL, checks sha256 and size, and
    returns the temp path (the caller renames it into place). On any error the
    temp file is removed and nothing is left under FINAL."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(final)
    h, n = hashlib.sha256(), 0
    try:
        with open(tmp, "wb") as f:
            for chunk in chunks:
                h.update(chunk)
                f.write(chunk)
                n += len(chunk)
        if h.hexdigest() != sha or n != size:
            raise mismatch(label or final.name, sha, h.hexdigest(), size, n, advice)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def check_file(path, sha, size, advice, label=None):
    """Raises FetchError unless PATH has the expected sha256 and size."""
    got_size = path.stat().st_size
    got_sha = sha256_file(path)
    if got_sha != sha or got_size != size:
        raise mismatch(label or path.name, sha, got_sha, size, got_size, advice)


def run_quiet(cmd, cwd=None):
    """Runs CMD capturing its output; returns (exit code, combined output)."""
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, text=True)
    return p.returncode, p.stdout


def tail(text, n=15):
    return "\n".join("    " + line for line in text.strip().splitlines()[-n:])


# --------------------------------------------------------------------------
# Pinned downloads
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Download:
    """One artefact fetched from a package registry and kept in the cache.

    name: the file name the client saves (it carries name and version, so it
          is the cache key); sha256/size pin its content.
    kind: 'wheel' (pip, binary only), 'sdist' (pip, source only) or 'deb'.
    spec: 'project==version' for pip, 'package=version' for apt.
    pip_args: extra pip arguments (e.g. a target platform for a wheel whose
          tag is not the running interpreter's).
    """
    name: str
    kind: str
    spec: str
    sha256: str = ""
    size: int = 0
    pip_args: tuple = field(default=())


def _fetch_pip(items, dest):
    binary = items[0].kind == "wheel"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir",
           "--disable-pip-version-check", "-d", str(dest)]
    cmd += ["--only-binary", ":all:"] if binary else ["--no-binary", ":all:"]
    cmd += list(items[0].pip_args) + [d.spec for d in items]
    rc, out = run_quiet(cmd)
    # For an sdist pip also builds its metadata after saving the file; that step
    # needs build tools and may fail although the file we want is already saved
    # (its sha256 is checked next), so only a missing file is an error.
    missing = [d for d in items if not (dest / d.name).is_file()]
    if missing:
        raise FetchError(
            f"pip download failed for {', '.join(d.spec for d in missing)} (exit {rc}):\n{tail(out)}\n"
            "  Check that PyPI is reachable (pip config, proxy), then run again.")


def _fetch_apt(item, dest):
    cmd = ["apt-get", "download", "-q"]
    if os.geteuid() == 0:
        # apt drops to the _apt user for downloads, which cannot write into
        # root's home; download as root instead of printing a warning.
        cmd += ["-o", "APT::Sandbox::User=root"]
    cmd.append(item.spec)
    if not shutil.which("apt-get"):
        raise FetchError(f"{item.name}: apt-get not found; this recipe needs a Debian 12 (bookworm) system.")
    rc, out = run_quiet(cmd, cwd=dest)
    if rc != 0 and os.geteuid() == 0:
        # A fresh machine or container often has no (or stale) package lists.
        log("  apt has no package lists: running apt-get update ...")
        run_quiet(["apt-get", "update", "-q"])
        rc, out = run_quiet(cmd, cwd=dest)
    if rc != 0 or not (dest / item.name).is_file():
        hint = "run 'sudo apt-get update'" if os.geteuid() != 0 else "check the apt sources"
        raise FetchError(
            f"apt-get download {item.spec} failed (exit {rc}):\n{tail(out)}\n"
            f"  This needs Debian 12 (bookworm) apt sources: {hint}, then run again.")


def ensure_downloads(items, tag=""):
    """Makes every Download in ITEMS present and verified in the cache.

    A cached file whose sha256 is wrong (corrupted, truncated) is deleted and
    fetched again; a freshly fetched file with a wrong sha256 is an error (the
    registry served different bytes than the manifest pins). Returns
    {name: path} and the number of bytes fetched."""
    ddir = downloads_dir()
    ddir.mkdir(parents=True, exist_ok=True)
    paths, missing = {}, []
    for d in items:
        path = ddir / d.name
        paths[d.name] = path
        if path.is_file():
            got_size = path.stat().st_size
            got_sha = sha256_file(path) if got_size == d.size else "(not hashed: wrong size)"
            if got_size == d.size and got_sha == d.sha256:
                continue
            log(f"{tag}cached {d.name} is corrupt (expected sha256 {d.sha256}, got {got_sha}, "
                f"{got_size} of {d.size} bytes): fetching it again")
            path.unlink()
        missing.append(d)
    if not missing:
        return paths, 0

    total = sum(d.size for d in missing)
    log(f"{tag}downloading {len(missing)} file(s), {human(total)} ...")
    t0 = time.monotonic()
    incoming = Path(tempfile.mkdtemp(prefix=".incoming-", dir=ddir))
    try:
        # One pip call per kind (and platform): pip fetches a batch faster.
        groups = {}
        for d in missing:
            if d.kind == "deb":
                _fetch_apt(d, incoming)
            else:
                groups.setdefault((d.kind, d.pip_args), []).append(d)
        for group in groups.values():
            _fetch_pip(group, incoming)
        for d in missing:
            check_file(incoming / d.name, d.sha256, d.size,
                       f"The registry served different bytes for {d.spec} than models/manifest.tsv pins. "
                       "Nothing was cached. Retry; if it persists, the package was re-released: "
                       "check it and update the manifest deliberately.")
            os.replace(incoming / d.name, paths[d.name])
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    log(f"{tag}downloaded {human(total)} in {time.monotonic() - t0:.1f} s")
    return paths, total
