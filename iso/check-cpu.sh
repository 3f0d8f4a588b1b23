#!/usr/bin/env bash
# Finds AVX-512 and AMX instructions in the image's binaries (QEMU's `-cpu max` and
# many PCs lack them: SIGILL) and names the functions that hold them. Allowed:
# aws-lc's assembly (AES-GCM, RSA), which it calls only after asking the CPU
# (OPENSSL_ia32cap, runtime dispatch); anything else fails. The boot test then runs every binary on QEMU's
# CPU. Usage: iso/check-cpu.sh [BIN_DIR]
set -euo pipefail
BIN=${1:-${AIOS_ISO_TARGET_DIR:-$HOME/.cache/aios/target-iso}/release}
# (`*init_IV` are local labels inside aws-lc's AES-GCM AVX-512 assembly that the
# symbol table keeps.)
ALLOWED='(aws_lc_|[a-z0-9_]*_init_IV$)'
status=0
for b in aios aios-agent aios-llm aios-confirm aios-chat aios-dock; do
    # zmm registers and mask registers are AVX-512; tmm registers and tile ops AMX.
    found=$(objdump -d --no-show-raw-insn "$BIN/$b" |
        awk '/^[0-9a-f]+ <.*>:$/ { f = substr($2, 2, length($2) - 3) }
             /%zmm|%k[1-7]|%tmm|tileload|tdpb/ { n[f]++ }
             END { for (k in n) print n[k], k }' | sort -rn)
    bad=$(printf '%s\n' "$found" | awk 'NF' | grep -Ev " $ALLOWED" || true)
    allowed=$(printf '%s\n' "$found" | awk 'NF' | grep -Ec " $ALLOWED" || true)
    if [ -n "$bad" ]; then
        echo "$b: AVX-512/AMX outside runtime-dispatched code:" >&2
        printf '%s\n' "$bad" | head -n 20 | sed 's/^/  /' >&2
        status=1
    else
        echo "$b: ok ($allowed aws-lc functions use AVX-512 after asking the CPU)"
    fi
done
exit $status
