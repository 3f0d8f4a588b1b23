#!/usr/bin/env bash
# `make setup`: installs what the build, the tests and the runtime need, then the
# ONNX Runtime library and the models. Idempotent: a second run checks and returns.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages. Each issue adds what its part needs, with the reason.
APT_PACKAGES=(
  pkg-config        # -sys crates locate C libraries with it
  ca-certificates   # HTTPS to PyPI and the Debian mirror for `make models`
  cmake             # llama.cpp (aios-llm) is built by cmake
  libclang-dev      # bindgen for llama-cpp-sys-2
  dbus              # private buses for the tool tests
  python3-dbusmock  # NetworkManager and UPower stand-ins on a private bus (tests)
  pipewire          # volume: the sound server wpctl talks to
  pipewire-bin      # pw-cli, pw-play, pw-loopback (tests: null sink, virtual mic)
  pipewire-alsa     # cpal's ALSA "default" device reaches PipeWire (the fallback)
  pipewire-pulse    # mic and speaker through PipeWire's PulseAudio server (cheaper than ALSA)
  wireplumber       # wpctl
  xdg-utils         # xdg-open for open_url
  libsonic-dev      # Piper's vendored espeak-ng links libsonic
  libasound2-dev    # cpal/rodio (audio capture and playback)
  espeak-ng         # voice tests speak commands with several espeak-ng voices
  clang             # the C/C++ compiler llama.cpp's cmake build expects
  libxkbcommon-dev  # the confirmation overlay's layer-shell client links xkbcommon
  sway              # a real headless Wayland compositor for the GUI tests (layer-shell)
  grim              # screenshots of it (GUI tests, `make screenshots`)
  wtype             # types into its windows like a keyboard (GUI tests)
  tesseract-ocr     # reads the screenshots back (GUI tests)
  tesseract-ocr-eng #   its English data
  fonts-dejavu-core # the windows' text (tiny-skia draws system fonts)
  chromium          # the browser AIOS drives through @playwright/mcp (browser tools, tests)
)
# Node.js runs the browser's MCP server; a machine may already have its own.
command -v node >/dev/null && command -v npm >/dev/null || APT_PACKAGES+=(nodejs npm)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO=(sudo)
  fi
  echo "setup: installing ${missing[*]}" >&2
  "${SUDO[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Rust components the checks use (rustup is the machine's only toolchain manager).
for c in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$c"; then
    rustup component add "$c"
  fi
done

# It prints the library path on stdout for scripts; setup only needs it installed.
python3 scripts/install_onnxruntime.py >/dev/null
python3 scripts/fetch_models.py

# The browser's MCP server, pinned, into .local/playwright-mcp (not its own browser:
# it drives Debian's chromium). Skipped when that version is there already.
PW_MCP=0.0.83
pw_dir=.local/playwright-mcp
if ! grep -qs "\"version\": \"$PW_MCP\"" "$pw_dir/node_modules/@playwright/mcp/package.json"; then
  echo "setup: installing @playwright/mcp@$PW_MCP into $pw_dir" >&2
  mkdir -p "$pw_dir"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$pw_dir" --no-audit --no-fund --loglevel=error \
    "@playwright/mcp@$PW_MCP" >&2
fi
