"""IQA and ASE with q-align (Wu et al. 2023; paper §4.1): a VLM's expected rating of image quality / aesthetics.

Procedure (Q-Future/Q-Align `QAlignScorer` / `QAlignAestheticScorer` and one-align's `score()`):

1. prompt "USER: How would you rate the {quality|aesthetics} of this image?\\n<|image|>\\nASSISTANT: The
   {quality|aesthetics} of the image is", tokenised chunk by chunk around `<|image|>`, which becomes the image
   token -200 (`tokenizer_image_token`);
2. each frame padded to a square with the processor's mean colour (`expand2square`), then the CLIP image
   processor of the checkpoint (448x448, CLIP mean/std);
3. the model's logits at the last position for the first token of each level word "excellent", "good", "fair",
   "poor", "bad" (`tokenizer(words).input_ids[i][1]`, after BOS);
4. score = softmax over those five logits · [5, 4, 3, 2, 1] (one-align's scale 1-5; the paper's numbers, e.g.
   Ref Img 3.195, are on it). A video scores the mean over frames sampled at `sample_fps` = 1 (Q-Align's own
   video loader samples 1 fps), each scored as an image, so videos and reference images share one scale.

Weights: the `q-future/one-align` folder (weights key `qalign`) loaded with transformers from the LOCAL folder with
`trust_remote_code` (its mPLUG-Owl2 code). That code's constructor loads its tokenizer and image processor from the
hub id "q-future/one-align"; while the model loads, those two calls are pointed at the local folder, so nothing is
fetched. Covered by tests: steps 1-4 with a tiny remote-code causal LM, tokenizer and CLIP processor saved in a
folder. Not covered here: the real one-align code (written for transformers 4.36; not run with this project's
transformers) and its weights.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from omnihuman_pipeline.metrics.base import MetricFailure, VideoItem, VideoScore

LEVEL_WORDS = ("excellent", "good", "fair", "poor", "bad")
LEVEL_WEIGHTS = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
PROMPT = "USER: How would you rate the {task} of this {kind}?\n<|image|>\nASSISTANT: The {task} of the {kind} is"
IMAGE_TOKEN, IMAGE_TOKEN_INDEX = "<|image|>", -200
TASKS = {"iqa": "quality", "ase": "aesthetics"}
HUB_ID = "q-future/one-align"
SAMPLE_FPS = 1.0
WEIGHTS_KEY = "qalign"


def level_score(level_logits: np.ndarray) -> np.ndarray:
    """Step 4: softmax over the five level logits [..., 5] (excellent..bad) · [5, 4, 3, 2, 1] -> [...] in [1, 5]."""
    z = np.asarray(level_logits, np.float64)
    p = np.exp(z - z.max(-1, keepdims=True))
    return (p / p.sum(-1, keepdims=True)) @ LEVEL_WEIGHTS


def prompt_ids(tokenizer, task: str, kind: str = "image") -> list[int]:
    """Step 1: token ids of the q-align prompt for `task` ("iqa" | "ase"), the image as `IMAGE_TOKEN_INDEX`.

    As `tokenizer_image_token`: each chunk around `<|image|>` is tokenised on its own; when the first chunk starts
    with BOS, BOS is kept once and the first token of every later chunk (its BOS) is dropped.
    """
    prompt = PROMPT.format(task=TASKS[task], kind=kind)
    chunks = [tokenizer(c).input_ids if c else [] for c in prompt.split(IMAGE_TOKEN)]
    offset = int(bool(chunks and chunks[0] and chunks[0][0] == tokenizer.bos_token_id))
    ids = chunks[0][:1] if offset else []
    for i, chunk in enumerate(chunks):
        if i:
            ids.append(IMAGE_TOKEN_INDEX)
        ids.extend(chunk[offset:])
    return ids


def level_token_ids(tokenizer) -> list[int]:
    """Step 3: the first token of each level word, after BOS when the tokenizer adds one (q-align's `[1]`)."""
    ids = tokenizer(list(LEVEL_WORDS)).input_ids
    return [x[1] if x[0] == tokenizer.bos_token_id and len(x) > 1 else x[0] for x in ids]


def expand_to_square(image: np.ndarray, fill: tuple[int, int, int]) -> np.ndarray:
    """Step 2a (`expand2square`): uint8 [H, W, 3] centred on a square canvas of side max(H, W) filled with `fill`."""
    h, w = image.shape[:2]
    if h == w:
        return image
    side = max(h, w)
    out = np.empty((side, side, 3), np.uint8)
    out[:] = fill
    top, left = (side - h) // 2, (side - w) // 2
    out[top : top + h, left : left + w] = image
    return out


@contextlib.contextmanager
def _hub_id_points_to(folder: Path):
    """While one-align's constructor runs, its `from_pretrained("q-future/one-align")` calls read `folder`."""
    import transformers

    saved = []
    for cls in (transformers.AutoTokenizer, transformers.CLIPImageProcessor):
        own = cls.__dict__.get("from_pretrained")

        def redirect(name, *args, _load=cls.from_pretrained, **kwargs):
            if str(name) == HUB_ID:
                name, kwargs["local_files_only"] = str(folder), True
            return _load(name, *args, **kwargs)

        saved.append((cls, own))
        cls.from_pretrained = staticmethod(redirect)
    try:
        yield
    finally:
        for cls, own in saved:
            if own is None:
                del cls.from_pretrained
            else:
                cls.from_pretrained = own


@dataclass
class QAlignModel:
    """A loaded q-align checkpoint: the causal LM, its tokenizer and image processor, the level-word token ids."""

    model: Any
    tokenizer: Any
    image_processor: Any
    level_ids: list[int]
    dtype: Any


def load_qalign(path: str | None = None, device: str = "cpu", dtype: str | None = None) -> QAlignModel:
    """The one-align folder with transformers, remote code from the local folder only.

    Args:
        path: the checkpoint folder; None resolves key "qalign".
        device: torch device.
        dtype: "float16" | "bfloat16" | "float32"; default float16 on CUDA (as q-align runs), float32 on CPU.

    Raises:
        WeightsNotFoundError: no folder; the message names it, the setting and where it is published.
    """
    from omnihuman_pipeline import weights

    folder = weights.resolve(WEIGHTS_KEY, path)  # before the heavy imports: a missing folder is reported at once
    import torch
    import transformers

    torch_dtype = getattr(torch, dtype or ("float16" if str(device).startswith("cuda") else "float32"))
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    processor = transformers.CLIPImageProcessor.from_pretrained(str(folder), local_files_only=True)
    with _hub_id_points_to(folder):
        model = transformers.AutoModelForCausalLM.from_pretrained(
            str(folder), trust_remote_code=True, local_files_only=True, dtype=torch_dtype)
    return QAlignModel(model.to(device).eval(), tokenizer, processor, level_token_ids(tokenizer), torch_dtype)


def qalign_scores(qa: QAlignModel, frames: np.ndarray, task: str, *, device: str = "cpu",
                  batch_size: int = 8) -> np.ndarray:
    """Steps 1-4 on uint8 RGB frames [N, H, W, 3] -> float64 [N] scores in [1, 5] for task "iqa" | "ase"."""
    import torch

    # 1. the prompt, image token included
    ids = torch.tensor(prompt_ids(qa.tokenizer, task), device=device)[None]
    fill = tuple(int(m * 255) for m in qa.image_processor.image_mean)
    out = []
    with torch.inference_mode():
        for i in range(0, len(frames), batch_size):
            # 2. square with the mean colour, then the checkpoint's CLIP preprocessing
            squares = [expand_to_square(f, fill) for f in frames[i : i + batch_size]]
            pixels = qa.image_processor.preprocess(squares, return_tensors="pt")["pixel_values"]
            # 3. next-token logits of the five level words
            logits = qa.model(ids.repeat(len(squares), 1), images=pixels.to(device, qa.dtype))["logits"]
            # 4. expected level
            out.append(level_score(logits[:, -1, qa.level_ids].float().cpu().numpy()))
    return np.concatenate(out) if out else np.zeros(0)


@dataclass
class QAlignMetric:
    """IQA and ASE of one video (mean over frames at `sample_fps`) or one reference image.

    Attributes:
        weights_path: the one-align folder; None resolves "qalign".
        device: torch device.
        dtype: model dtype (see `load_qalign`).
        sample_fps: frames per second scored.
        batch_size: frames per forward pass.
    """

    key: ClassVar[str] = "qalign"
    outputs: ClassVar[tuple[str, ...]] = ("iqa", "ase")
    backend: ClassVar[str] = "qalign"
    kind: ClassVar[str] = "per_video"

    weights_path: str | None = None
    device: str = "cpu"
    dtype: str | None = None
    sample_fps: float = SAMPLE_FPS
    batch_size: int = 8
    _qa: Any = field(default=None, init=False, repr=False)

    def setup(self) -> None:
        if self._qa is None:
            self._qa = load_qalign(self.weights_path, self.device, self.dtype)

    def score_video(self, item: VideoItem) -> VideoScore:
        from omnihuman_pipeline.scoring.pose import sample_indices

        if len(item.generated) == 0:
            raise MetricFailure("no_generated_frames")
        self.setup()
        frames = item.generated[sample_indices(len(item.generated), item.fps, self.sample_fps, len(item.generated))]
        values = {name: float(qalign_scores(self._qa, frames, name, device=self.device,
                                            batch_size=self.batch_size).mean()) for name in self.outputs}  # fmt: skip
        return VideoScore(values, n=len(frames))
