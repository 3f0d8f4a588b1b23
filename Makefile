# The one front door. On a fresh machine: `make run` (use it) and `make test` (check it).
SHELL := /bin/bash
CARGO ?= cargo
NEXTEST := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)

.PHONY: setup models build run test check bench bench-reference screenshots iso qemu-deps run-qemu qemu-test clean-models

## setup: apt packages, Rust components, ONNX Runtime (.local/onnxruntime), models
setup:
	@scripts/setup.sh

## models: fetch and verify every model into models/ (cached under ~/.cache/aios)
models:
	@python3 scripts/fetch_models.py

build:
	$(CARGO) build --workspace --release

## run: start the agent, then the GUIs on Wayland or `aios chat` in this terminal
run: setup build
	@scripts/run.sh

## test: formatting, lints, then every test (the command CI runs)
test: setup check
	# The agent tests run the real worker, confirm, `aios` and chat binaries; test
	# builds do not build binaries of other packages by themselves.
	$(CARGO) build -p aios-llm -p aios-confirm -p aios-cli -p aios-chat -p aios-dock
ifeq ($(NEXTEST),yes)
	$(CARGO) nextest run --workspace --no-fail-fast
else
	$(CARGO) test --workspace --no-fail-fast
endif

check:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## screenshots: the GUIs under a headless sway with a scripted model, into docs/screenshots/
screenshots: setup
	$(CARGO) build -p aios-llm -p aios-confirm -p aios-cli -p aios-chat -p aios-dock
	mkdir -p docs/screenshots
	AIOS_SCREENSHOTS=$(CURDIR)/docs/screenshots $(CARGO) test -p aios-agent --test gui
	AIOS_SCREENSHOTS=$(CURDIR)/docs/screenshots $(CARGO) test -p aios-chat --test window -p aios-dock --test bar

## bench: criterion benchmarks (medians under $$CARGO_TARGET_DIR/criterion), then the
## latency bench (benches/run-all.sh): voice to voice, the engines side by side,
## footprint; results in benches/results/<hostname>-<date>.json and latency.svg
bench: setup
	$(CARGO) bench -p aios-benches
	benches/run-all.sh

## bench-reference: our STT and TTS stages against whisper.cpp's own Python binding
## and Piper's own package, same files and settings (a venv in .venv-bench; PyPI)
REFERENCE_PACKAGES = pywhispercpp==1.5.1 piper-tts==1.8.0
bench-reference: setup
	test -x .venv-bench/bin/python || python3 -m venv .venv-bench
	.venv-bench/bin/python -m pip install -q $(REFERENCE_PACKAGES)
	$(CARGO) build --release -p aios-benches --bin voice_bench
	$${CARGO_TARGET_DIR:-target}/release/voice_bench --only engines --reps 7 --threads 2
	.venv-bench/bin/python benches/reference.py

## iso: the live ISO (Debian trixie, labwc, every model) into iso/out/aios-amd64.iso;
## root on Debian with live-build, or a Docker engine (iso/README.md)
iso: setup
	iso/build-iso.sh

## qemu-deps: QEMU 10 from bookworm-backports, sox, socat, xorriso (not part of setup)
qemu-deps:
	hw-tests/qemu-boot/install-qemu.sh

## run-qemu: boot the ISO in QEMU (a window where a display exists, else the serial
## console here); sound through the host's PulseAudio/PipeWire when there is one
run-qemu: qemu-deps
	hw-tests/qemu-boot/run-qemu.sh

## qemu-test: boot the ISO headless (TCG), check the desktop, speak a command into
## the virtual microphone and hear the reply (hw-tests/qemu-boot/README.md)
qemu-test: qemu-deps
	$(CARGO) build --release -p aios-cli
	python3 hw-tests/qemu-boot/boot_test.py
