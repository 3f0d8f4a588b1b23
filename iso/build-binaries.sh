#!/usr/bin/env bash
# Release binaries for the live image, built for any x86-64 with AVX2 (x86-64-v3):
# never for this build host's AVX-512/AMX, which QEMU's `-cpu max` and many PCs lack
# (SIGILL). whisper-rs-sys would otherwise build whisper.cpp with -march=native; it
# hands every GGML_* variable to cmake. llama-cpp-sys-2 already builds non-native.
# A separate target dir keeps these apart from the native test builds.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${AIOS_ISO_TARGET_DIR:-$HOME/.cache/aios/target-iso}"
export GGML_NATIVE=OFF GGML_AVX=ON GGML_AVX2=ON GGML_FMA=ON GGML_F16C=ON GGML_BMI2=ON
export GGML_AVX512=OFF GGML_AMX_TILE=OFF GGML_AMX_INT8=OFF
# Debug info out, symbols kept: iso/check-cpu.sh names the functions it finds.
export CARGO_PROFILE_RELEASE_STRIP=debuginfo
cargo build --release --locked -p aios-agent -p aios-cli -p aios-confirm -p aios-llm
# GUI packages separately: `-p A -p B --bin X` would build only bin X of each.
cargo build --release --locked -p aios-chat -p aios-dock
echo "$CARGO_TARGET_DIR/release"
