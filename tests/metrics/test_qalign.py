"""Tests of q-align IQA / ASE: the weighted softmax by hand, the prompt and image steps, and the loader on a tiny
remote-code causal LM + tokenizer + CLIP processor saved in a local folder (not the real one-align model)."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from omnihuman_pipeline.metrics import qalign

CONFIG_PY = '''
from transformers import PretrainedConfig


class TinyQAlignConfig(PretrainedConfig):
    model_type = "tiny_qalign"

    def __init__(self, vocab_size=32, hidden_size=8, **kwargs):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        super().__init__(**kwargs)
'''

MODELING_PY = '''
import torch
from torch import nn
from transformers import AutoTokenizer, CLIPImageProcessor, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutput

from .configuration_tiny_qalign import TinyQAlignConfig


class TinyQAlignForCausalLM(PreTrainedModel):
    config_class = TinyQAlignConfig

    def __init__(self, config):
        super().__init__(config)
        # as one-align's constructor does: tokenizer and image processor by hub id
        self.tokenizer = AutoTokenizer.from_pretrained("q-future/one-align")
        self.image_processor = CLIPImageProcessor.from_pretrained("q-future/one-align")
        self.embed = nn.Embedding(config.vocab_size, config.hidden_size)
        self.vision = nn.Linear(3, config.hidden_size)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size)
        self.post_init()

    def forward(self, input_ids, images=None, **kwargs):
        tokens = self.embed(input_ids.clamp(min=0))
        image = self.vision(images.float().mean(dim=(2, 3)))[:, None, :].to(tokens.dtype)
        h = torch.where((input_ids == -200)[..., None], image, tokens)
        h = torch.cumsum(h, 1) / torch.arange(1, h.shape[1] + 1, device=h.device)[None, :, None]
        return CausalLMOutput(logits=self.lm_head(torch.tanh(h)))
'''

WORDS = ["<unk>", "<s>", "USER:", "How", "would", "you", "rate", "the", "quality", "aesthetics", "of", "this",
         "image?", "image", "ASSISTANT:", "The", "is", *qalign.LEVEL_WORDS]


def test_level_score_by_hand():
    """Equal logits give 3; probabilities (.1, .2, .3, .2, .2) give 2.8; a dominant 'excellent' gives 5."""
    assert qalign.level_score(np.zeros(5)) == pytest.approx(3.0)
    assert qalign.level_score(np.log([0.1, 0.2, 0.3, 0.2, 0.2])) == pytest.approx(0.5 + 0.8 + 0.9 + 0.4 + 0.2)
    np.testing.assert_allclose(qalign.level_score(np.array([[50.0, 0, 0, 0, 0], [0, 0, 0, 0, 50.0]])), [5.0, 1.0])


def test_expand_to_square_matches_q_align():
    """The padding equals Q-Align's expand2square (PIL paste at (0, (w - h) // 2) / ((h - w) // 2, 0))."""
    from PIL import Image

    def reference(img: np.ndarray, fill) -> np.ndarray:
        pil = Image.fromarray(img)
        w, h = pil.size
        out = Image.new(pil.mode, (max(w, h),) * 2, fill)
        out.paste(pil, (0, (w - h) // 2) if w > h else ((h - w) // 2, 0))
        return np.asarray(out)

    rng = np.random.default_rng(0)
    for shape in ((3, 8, 3), (7, 4, 3), (5, 5, 3)):
        img = rng.integers(0, 256, shape, dtype=np.uint8)
        np.testing.assert_array_equal(qalign.expand_to_square(img, (122, 116, 104)), reference(img, (122, 116, 104)))


@pytest.fixture(scope="module", autouse=True)
def remote_code_cache(tmp_path_factory):
    """transformers copies remote code under ~/.cache/huggingface/modules; keep these tests' copies in a temp folder."""
    import transformers.dynamic_module_utils as dynamic

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dynamic, "HF_MODULES_CACHE", str(tmp_path_factory.mktemp("hf_modules")))
        yield


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    """A q-align-shaped checkpoint folder: remote-code tiny causal LM (auto_map), word-level tokenizer with BOS and
    the five level words, a 16-px CLIP image processor, random weights."""
    import torch
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    folder = tmp_path_factory.mktemp("one-align")
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", unk_token="<unk>").save_pretrained(folder)
    transformers.CLIPImageProcessor(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16}).save_pretrained(
        folder)
    (folder / "configuration_tiny_qalign.py").write_text(textwrap.dedent(CONFIG_PY))
    (folder / "modeling_tiny_qalign.py").write_text(textwrap.dedent(MODELING_PY))
    (folder / "config.json").write_text(json.dumps({
        "model_type": "tiny_qalign", "vocab_size": len(WORDS), "hidden_size": 8,
        "architectures": ["TinyQAlignForCausalLM"],
        "auto_map": {"AutoConfig": "configuration_tiny_qalign.TinyQAlignConfig",
                     "AutoModelForCausalLM": "modeling_tiny_qalign.TinyQAlignForCausalLM"}}))
    torch.manual_seed(0)
    config = transformers.AutoConfig.from_pretrained(folder, trust_remote_code=True, local_files_only=True)
    with qalign._hub_id_points_to(folder):
        model = transformers.AutoModelForCausalLM.from_config(config, trust_remote_code=True)
    model.save_pretrained(folder)
    return folder


def test_prompt_ids_follow_tokenizer_image_token(tiny_folder):
    """BOS once, the first chunk's words, the image token -200, then the second chunk's words (its BOS dropped)."""
    import transformers

    tok = transformers.AutoTokenizer.from_pretrained(str(tiny_folder), local_files_only=True)
    ids = qalign.prompt_ids(tok, "ase")
    words = "USER: How would you rate the aesthetics of this image?".split()
    words2 = "ASSISTANT: The aesthetics of the image is".split()
    assert ids == [1, *[WORDS.index(w) for w in words], -200, *[WORDS.index(w) for w in words2]]
    assert qalign.level_token_ids(tok) == [WORDS.index(w) for w in qalign.LEVEL_WORDS]


def test_loader_and_scores_on_a_tiny_remote_code_model(tiny_folder):
    """load_qalign runs the folder's own code (trust_remote_code, offline, its hub-id lookups pointed at the folder);
    scores equal softmax(level logits at the last position) . [5..1] computed here; IQA and ASE prompts differ."""
    import torch
    import transformers

    qa = qalign.load_qalign(str(tiny_folder))
    assert type(qa.model).__name__ == "TinyQAlignForCausalLM"
    assert "from_pretrained" not in transformers.AutoTokenizer.__dict__ or not isinstance(
        transformers.AutoTokenizer.__dict__["from_pretrained"], staticmethod)  # the redirect is undone
    frames = np.random.default_rng(1).integers(0, 256, (3, 12, 20, 3), dtype=np.uint8)
    iqa = qalign.qalign_scores(qa, frames, "iqa", batch_size=2)
    ase = qalign.qalign_scores(qa, frames, "ase")
    fill = tuple(int(m * 255) for m in qa.image_processor.image_mean)
    pixels = qa.image_processor.preprocess([qalign.expand_to_square(f, fill) for f in frames],
                                           return_tensors="pt")["pixel_values"]
    ids = torch.tensor(qalign.prompt_ids(qa.tokenizer, "iqa"))[None].repeat(3, 1)
    with torch.inference_mode():
        logits = qa.model(ids, images=pixels)["logits"][:, -1, qa.level_ids].numpy()
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(iqa, probs @ [5, 4, 3, 2, 1], rtol=1e-6)
    assert iqa.shape == (3,) and ((1 <= iqa) & (iqa <= 5)).all() and not np.allclose(iqa, ase)


def test_metric_through_the_suite(tiny_folder):
    """The suite's qalign metric (1 frame a second) and the reference-image row (image metrics only)."""
    from omnihuman_pipeline.metrics.base import VideoItem
    from omnihuman_pipeline.metrics.suite import evaluate, evaluate_reference_images

    frames = np.random.default_rng(2).integers(0, 256, (50, 16, 16, 3), dtype=np.uint8)
    config = {"metrics": ["qalign"], "weights": {"qalign": str(tiny_folder)}}
    rows, results = evaluate([VideoItem("a", frames), VideoItem("b", frames[::-1].copy())], config)
    assert [r.name for r in results] == ["iqa", "ase"] and all(r.status == "ok" and r.n == 2 for r in results)
    assert set(rows["n"]) == {2}  # 2 s at 25 fps -> 2 frames scored
    ref_rows, ref = evaluate_reference_images({"a": frames[0]}, {**config, "metrics": ["fid", "qalign"]})
    assert [r.name for r in ref] == ["iqa", "ase"] and set(ref_rows["n"]) == {1}
