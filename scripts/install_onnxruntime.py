#!/usr/bin/env python3
"""Install the ONNX Runtime shared library from the PyPI `onnxruntime` wheel.

    python3 scripts/install_onnxruntime.py [--prefix DIR]

Puts libonnxruntime.so.<version> (with libonnxruntime.so.1 and
libonnxruntime.so symlinks) into .local/onnxruntime/lib/ in the repository
(git-ignored), plus the wheel's LICENSE and ThirdPartyNotices.txt in
.local/onnxruntime/. Prints the library's path on stdout, for
ORT_DYLIB_PATH (the `ort` crate's load-dynamic feature); progress goes to stderr.

The wheel is pinned by sha256 and cached in ~/.cache/aios/downloads
($AIOS_CACHE_DIR/downloads). Running it again when the library is in place
does nothing.

Why 1.24.4: ort 2.0.0-rc.12 (api-24) needs ONNX Runtime >= 1.24; 1.22 hangs
silently with it, Debian's packaged 1.21 is too old. The library inside the
wheel does not depend on Python, so the CPython 3.11 manylinux x86_64 wheel is
fetched whatever python runs this script.
"""
import argparse
import os
import sys
import zipfile
from pathlib import Path

sys.dont_write_bytecode = True  # keep scripts/ free of __pycache__
sys.path.insert(0, str(Path(__file__).resolve().parent))
from aios_fetch import (REPO_ROOT, Download, FetchError, cache_dir, ensure_downloads, locked,  # noqa: E402
                        log, sha256_file, write_verified)

VERSION = "1.24.4"
WHEEL = Download(
    name=f"onnxruntime-{VERSION}-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
    kind="wheel",
    spec=f"onnxruntime=={VERSION}",
    sha256="e54ad52e61d2d4618dcff8fa1480ac66b24ee2eab73331322db1049f11ccf330",
    size=17222993,
    # Ask for this exact wheel, not the one matching the running interpreter.
    pip_args=("--platform", "manylinux_2_28_x86_64", "--python-version", "3.11",
              "--implementation", "cp", "--abi", "cp311"),
)
LIBRARY = f"libonnxruntime.so.{VERSION}"
LIBRARY_SHA256 = "2d518e11c7767f9fdc4413bdbeb45acf30db504ff76a82fc19d9238a3f9f6c24"
LIBRARY_SIZE = 22159232
# wheel member -> path under the prefix
MEMBERS = {
    f"onnxruntime/capi/{LIBRARY}": f"lib/{LIBRARY}",
    "onnxruntime/LICENSE": "LICENSE",
    "onnxruntime/ThirdPartyNotices.txt": "ThirdPartyNotices.txt",
}
LINKS = ("libonnxruntime.so.1", "libonnxruntime.so")  # the SONAME, and the name linkers look for
DEFAULT_PREFIX = REPO_ROOT / ".local" / "onnxruntime"


def installed(prefix):
    """True if the pinned library, its links and notices are in place; says what is not."""
    lib = prefix / "lib" / LIBRARY
    if not lib.exists():
        return False
    if lib.stat().st_size != LIBRARY_SIZE or sha256_file(lib) != LIBRARY_SHA256:
        log(f"{lib} is not the pinned build (sha256 mismatch): reinstalling")
        return False
    for link in LINKS:
        path = prefix / "lib" / link
        if not path.is_symlink() or os.readlink(path) != LIBRARY:
            log(f"{path} is missing or points elsewhere: reinstalling")
            return False
    return all((prefix / rel).is_file() for rel in MEMBERS.values())


def symlink(target, path):
    """Points PATH at TARGET, replacing what is there atomically."""
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, path)


def install(prefix):
    paths, _ = ensure_downloads([WHEEL])
    wheel = paths[WHEEL.name]
    (prefix / "lib").mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        for member, rel in MEMBERS.items():
            dest = prefix / rel
            if rel.startswith("lib/"):
                # The library is checked on its own too: the wheel's sha256 pins
                # it already, but this also catches a wrong member being picked.
                with z.open(member) as f:
                    tmp = write_verified(dest, iter(lambda: f.read(1 << 20), b""), LIBRARY_SHA256,
                                         LIBRARY_SIZE, f"{member} in {WHEEL.name} is not the pinned "
                                         "library: fix LIBRARY_SHA256 or the member name in this script.")
                os.chmod(tmp, 0o755)
            else:
                tmp = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
                tmp.write_bytes(z.read(member))
            os.replace(tmp, dest)
    for link in LINKS:
        symlink(LIBRARY, prefix / "lib" / link)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prefix", type=Path, default=DEFAULT_PREFIX,
                    help="install under PREFIX/lib (default: .local/onnxruntime in the repository)")
    args = ap.parse_args(argv)
    prefix = args.prefix.resolve()
    lib = prefix / "lib" / LIBRARY
    try:
        if prefix.is_relative_to(REPO_ROOT / ".local"):
            # Keep the installed files out of git without touching the root .gitignore.
            gitignore = REPO_ROOT / ".local" / ".gitignore"
            gitignore.parent.mkdir(parents=True, exist_ok=True)
            if not gitignore.exists():
                gitignore.write_text("# Built or installed locally (scripts/install_onnxruntime.py); not in git.\n*\n")
        with locked(cache_dir()):
            if installed(prefix):
                log(f"onnxruntime {VERSION} already installed: {lib}")
            else:
                log(f"installing onnxruntime {VERSION} into {prefix} ...")
                install(prefix)
                log(f"installed {lib}")
    except FetchError as e:
        log(f"install_onnxruntime: ERROR: {e}")
        return 1
    print(lib)
    return 0


if __name__ == "__main__":
    sys.exit(main())
