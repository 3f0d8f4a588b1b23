#!/usr/bin/env python3
"""Convert a CTranslate2 Whisper model (model.bin) to a whisper.cpp ggml f16 file.

    python3 ct2_ggml.py MODEL_BIN ASSETS_DIR OUT [--add-eot-token]

MODEL_BIN   a CTranslate2 ``model.bin`` with a ``WhisperSpec`` (as made by
            faster-whisper / ct2-transformers-converter).
ASSETS_DIR  the ``whisper/assets`` directory of the openai-whisper source
            distribution (``gpt2.tiktoken`` / ``multilingual.tiktoken`` and
            ``mel_filters.npz``).
OUT         the ggml file to write.

The output has the layout written by whisper.cpp's
``models/convert-pt-to-ggml.py``: magic, hyper-parameters, mel filter bank,
vocabulary, then every tensor under its PyTorch (openai-whisper) name.
Matrices are stored as f16; vectors, the conv biases and the positional
embeddings as f32, exactly as that script does, so whisper.cpp loads the file
like one of its own downloads. The output is deterministic: the fetcher checks
it against a sha256 in models/manifest.tsv.

Needs numpy (the fetcher runs this with its own venv's python).
"""
import argparse
import base64
import os
import struct
import sys

import numpy as np

GGML_MAGIC = 0x67676D6C  # "ggml"; written little-endian, so the file starts "lmgg"

# CTranslate2 DataType codes (include/ctranslate2/types.h) -> numpy dtype.
# bfloat16 has no numpy dtype; it is widened to float32 by hand below.
CT2_DTYPES = {0: "<f4", 1: "i1", 2: "<i2", 3: "<i4", 4: "<f2", 5: "bfloat16"}

# The order of the header fields, as whisper.cpp reads them.
HPARAM_ORDER = ("n_vocab", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer",
                "n_text_ctx", "n_text_state", "n_text_head", "n_text_layer", "n_mels")

# Tensors that convert-pt-to-ggml.py keeps in f32 although they have 2 dims.
KEEP_F32 = {"encoder.conv1.bias", "encoder.conv2.bias",
            "encoder.positional_embedding", "decoder.positional_embedding"}


class Ct2Reader:
    """Reads the variables of a CTranslate2 model.bin (binary format versions 1-6)."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.buf = memoryview(f.read())
        self.pos = 0

    def _unpack(self, fmt):
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def _string(self):
        (n,) = self._unpack("H")
        raw = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return raw.rstrip(b"\0").decode()

    def read(self):
        """Returns (spec name, {variable name: numpy array}), aliases resolved."""
        (version,) = self._unpack("I")
        spec = None
        if version >= 2:
            spec = self._string()
            self._unpack("I")  # spec revision
        (count,) = self._unpack("I")
        variables = {}
        for _ in range(count):
            name = self._string()
            (rank,) = self._unpack("B")
            shape = self._unpack("I" * rank) if rank else ()
            if version >= 4:
                code, nbytes = self._unpack("B")[0], self._unpack("I")[0]
                if code not in CT2_DTYPES:
                    raise SystemExit(f"ct2_ggml: {name}: unsupported CTranslate2 dtype code {code}")
                dtype = CT2_DTYPES[code]
            else:  # before v4 only the item size was stored
                itemsize, nbytes = self._unpack("B")[0], self._unpack("I")[0]
                dtype = {4: "<f4", 2: "<i2", 1: "i1"}[itemsize]
            raw = self.buf[self.pos:self.pos + nbytes]
            self.pos += nbytes
            if dtype == "bfloat16":
                array = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
            else:
                array = np.frombuffer(raw, dtype)
            variables[name] = array.reshape(shape)
        if version >= 3:
            (n_aliases,) = self._unpack("I")
            for _ in range(n_aliases):
                alias, target = self._string(), self._string()
                variables.setdefault(alias, variables[target])
        if self.pos != len(self.buf):
            raise SystemExit(f"ct2_ggml: {len(self.buf) - self.pos} unexpected trailing bytes")
        return spec, variables


def count_layers(variables, side):
    """Number of distinct '<side>/layer_N/...' blocks."""
    layers = set()
    for name in variables:
        parts = name.split("/")
        if parts[0] == side and parts[1].startswith("layer_") and parts[1][6:].isdigit():
            layers.add(parts[1])
    return len(layers)


def hyper_parameters(v):
    n_vocab, n_text_state = v["decoder/embeddings/weight"].shape
    n_audio_ctx, n_audio_state = v["encoder/position_encodings/encodings"].shape
    return {
        "n_vocab": n_vocab,
        "n_audio_ctx": n_audio_ctx,
        "n_audio_state": n_audio_state,
        "n_audio_head": int(v["encoder/num_heads"]),
        "n_audio_layer": count_layers(v, "encoder"),
        "n_text_ctx": v["decoder/position_encodings/encodings"].shape[0],
        "n_text_state": n_text_state,
        "n_text_head": int(v["decoder/num_heads"]),
        "n_text_layer": count_layers(v, "decoder"),
        "n_mels": v["encoder/conv1/weight"].shape[1],
    }


def whisper_tensors(v, hp):
    """Yields (openai-whisper tensor name, array) in the order the ggml file stores them.

    CTranslate2 fuses some projections: self-attention q/k/v are one linear_0,
    cross-attention k/v are one linear_1. They are split back here. Whisper's
    key projections have no bias; CTranslate2 stores zeros for it, which are
    checked and dropped.
    """
    def linear(dst, src):
        yield dst + ".weight", v[src + "/weight"]
        yield dst + ".bias", v[src + "/bias"]

    def norm(dst, src):
        yield dst + ".weight", v[src + "/gamma"]
        yield dst + ".bias", v[src + "/beta"]

    def fused(dsts, src, width):
        weight, bias = v[src + "/weight"], v[src + "/bias"]
        for i, dst in enumerate(dsts):
            rows = slice(i * width, (i + 1) * width)
            yield dst + ".weight", weight[rows]
            if dst.endswith(".key"):
                if np.any(bias[rows].astype(np.float32) != 0):
                    raise SystemExit(f"ct2_ggml: {src}: key bias is not zero")
            else:
                yield dst + ".bias", bias[rows]

    def mlp(dst, src):
        yield from linear(dst + ".mlp.0", src + "/ffn/linear_0")
        yield from linear(dst + ".mlp.2", src + "/ffn/linear_1")
        yield from norm(dst + ".mlp_ln", src + "/ffn/layer_norm")

    # Audio encoder
    yield "encoder.positional_embedding", v["encoder/position_encodings/encodings"]
    yield from linear("encoder.conv1", "encoder/conv1")
    yield from linear("encoder.conv2", "encoder/conv2")
    for i in range(hp["n_audio_layer"]):
        dst, src = f"encoder.blocks.{i}", f"encoder/layer_{i}"
        yield from fused([dst + ".attn.query", dst + ".attn.key", dst + ".attn.value"],
                         src + "/self_attention/linear_0", hp["n_audio_state"])
        yield from linear(dst + ".attn.out", src + "/self_attention/linear_1")
        yield from norm(dst + ".attn_ln", src + "/self_attention/layer_norm")
        yield from mlp(dst, src)
    yield from norm("encoder.ln_post", "encoder/layer_norm")

    # Text decoder
    yield "decoder.positional_embedding", v["decoder/position_encodings/encodings"]
    yield "decoder.token_embedding.weight", v["decoder/embeddings/weight"]
    for i in range(hp["n_text_layer"]):
        dst, src = f"decoder.blocks.{i}", f"decoder/layer_{i}"
        yield from fused([dst + ".attn.query", dst + ".attn.key", dst + ".attn.value"],
                         src + "/self_attention/linear_0", hp["n_text_state"])
        yield from linear(dst + ".attn.out", src + "/self_attention/linear_1")
        yield from norm(dst + ".attn_ln", src + "/self_attention/layer_norm")
        yield from linear(dst + ".cross_attn.query", src + "/attention/linear_0")
        yield from fused([dst + ".cross_attn.key", dst + ".cross_attn.value"],
                         src + "/attention/linear_1", hp["n_text_state"])
        yield from linear(dst + ".cross_attn.out", src + "/attention/linear_2")
        yield from norm(dst + ".cross_attn_ln", src + "/attention/layer_norm")
        yield from mlp(dst, src)
    yield from norm("decoder.ln", "decoder/layer_norm")


def load_vocab(assets, multilingual, add_eot):
    """The BPE vocabulary in file order, as convert-pt-to-ggml.py writes it."""
    path = os.path.join(assets, "multilingual.tiktoken" if multilingual else "gpt2.tiktoken")
    tokens = {}
    with open(path, "rb") as f:
        for line in f.read().splitlines():
            if line:
                token, rank = line.split()
                tokens[base64.b64decode(token)] = int(rank)
    if add_eot:
        # Older openai-whisper vocabularies (gpt2/vocab.json) included <|endoftext|>;
        # whisper.cpp's official *.en ggml files therefore have 50257 tokens.
        tokens[b"<|endoftext|>"] = len(tokens)
    return list(tokens)


def write_ggml(out, hp, filters, vocab, tensors):
    count = 0
    with open(out, "wb") as f:
        f.write(struct.pack("<I", GGML_MAGIC))
        f.write(struct.pack("<10i", *(hp[k] for k in HPARAM_ORDER)))
        f.write(struct.pack("<i", 1))  # ftype: mostly f16
        f.write(struct.pack("<ii", *filters.shape))
        f.write(filters.astype("<f4").tobytes())
        f.write(struct.pack("<i", len(vocab)))
        for token in vocab:
            f.write(struct.pack("<i", len(token)))
            f.write(token)
        for name, array in tensors:
            array = array.squeeze()
            if name in ("encoder.conv1.bias", "encoder.conv2.bias"):
                array = array.reshape(array.shape[0], 1)  # whisper.cpp expects [n, 1]
            if array.ndim < 2 or name in KEEP_F32:
                array, ftype = array.astype("<f4"), 0
            else:
                array, ftype = array.astype("<f2"), 1
            encoded = name.encode()
            f.write(struct.pack("<iii", array.ndim, len(encoded), ftype))
            f.write(struct.pack(f"<{array.ndim}i", *reversed(array.shape)))  # ggml: innermost first
            f.write(encoded)
            f.write(np.ascontiguousarray(array).tobytes())
            count += 1
    return count


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_bin")
    ap.add_argument("assets_dir")
    ap.add_argument("out")
    ap.add_argument("--add-eot-token", action="store_true",
                    help="append <|endoftext|> to the vocabulary (English-only models, "
                         "to match whisper.cpp's own *.en files)")
    args = ap.parse_args(argv)

    spec, variables = Ct2Reader(args.model_bin).read()
    if spec != "WhisperSpec":
        raise SystemExit(f"ct2_ggml: {args.model_bin}: spec is {spec!r}, not WhisperSpec")
    hp = hyper_parameters(variables)
    filters = np.load(os.path.join(args.assets_dir, "mel_filters.npz"))[f"mel_{hp['n_mels']}"]
    vocab = load_vocab(args.assets_dir, hp["n_vocab"] >= 51865, args.add_eot_token)
    n = write_ggml(args.out, hp, filters, vocab, whisper_tensors(variables, hp))
    print(f"ct2_ggml: wrote {args.out}: {n} tensors, {len(vocab)} tokens, "
          + ", ".join(f"{k}={hp[k]}" for k in HPARAM_ORDER), file=sys.stderr)


if __name__ == "__main__":
    main()
