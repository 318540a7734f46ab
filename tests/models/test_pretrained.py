"""Starting from a text-to-video MMDiT checkpoint: what is copied, expanded, new and skipped."""

from __future__ import annotations

import torch

from omnihuman_pipeline.models import OmniHumanConfig, OmniHumanTransformer, load_pretrained_t2v

NEW_MODULES = ("audio_adapter.", "audio_attn.", "pose_guider.")


def _t2v_state_dict(make_model) -> tuple[OmniHumanTransformer, dict[str, torch.Tensor]]:
    t2v = make_model(with_audio=False, with_pose=False, seed=5)  # trained-looking T2V MMDiT
    return t2v, {k: v.clone() for k, v in t2v.state_dict().items()}


def test_load_t2v_reports_every_tensor(make_model, tiny_config) -> None:
    """Backbone tensors load, the patch embed is expanded, audio/pose are new, extras are skipped."""
    _, state = _t2v_state_dict(make_model)
    state["pooled_text_proj.weight"] = torch.zeros(3, 3)
    omni = OmniHumanTransformer(tiny_config)
    report = load_pretrained_t2v(omni, state)
    model_keys = set(omni.state_dict())
    assert report.expanded == ["patch_embed.proj.weight"]
    assert set(report.newly_initialized) == {
        k for k in model_keys if k.startswith(NEW_MODULES) or ".audio_attn." in k
    }
    assert set(report.loaded) == model_keys - set(report.newly_initialized) - set(report.expanded)
    assert report.skipped == {"pooled_text_proj.weight": "unexpected"}
    weight = omni.patch_embed.proj.weight
    c = tiny_config.in_channels
    assert torch.equal(weight[:, :c], state["patch_embed.proj.weight"]) and weight[:, c:].abs().sum() == 0
    assert "expanded 1" in report.summary()


def test_loaded_model_reproduces_t2v_model(inputs_factory, make_model, tiny_config) -> None:
    """After loading, OmniHuman with fresh audio/pose and both inputs given reproduces the T2V model exactly."""
    t2v, state = _t2v_state_dict(make_model)
    omni = OmniHumanTransformer(tiny_config).eval()
    load_pretrained_t2v(omni, state)
    x = inputs_factory(tiny_config)
    with torch.no_grad():
        expected = t2v(**dict(x, audio_feats=None, pose_maps=None))
        assert torch.allclose(omni(**x), expected, atol=1e-6)


def test_shape_mismatch_and_key_map(make_model) -> None:
    """A mismatched tensor is skipped with its shapes; key_map renames prefixed checkpoint keys."""
    _, state = _t2v_state_dict(make_model)
    state = {f"model.{k}": v for k, v in state.items()}
    other = OmniHumanTransformer(OmniHumanConfig.from_preset("tiny", text_dim=24))
    report = load_pretrained_t2v(other, state, key_map=lambda k: k.removeprefix("model."))
    assert report.skipped == {"context_embedder.weight": "shape (32, 16) != model (32, 24)"}
    assert "context_embedder.weight" in report.newly_initialized
    assert "context_embedder.bias" in report.loaded


def test_pose_learns_after_a_hand_off(inputs_factory, make_model, tiny_config) -> None:
    """A stage-2 checkpoint handed to a pose model: a few AdamW steps move the guider and the pose input channels."""
    _, state = _t2v_state_dict(make_model)
    omni = OmniHumanTransformer(tiny_config).train()
    load_pretrained_t2v(omni, state)
    c = tiny_config.in_channels
    before = {"guider": omni.pose_guider.proj_out.weight.detach().clone(),
              "channels": omni.patch_embed.proj.weight[:, c:].detach().clone()}
    opt = torch.optim.AdamW(omni.parameters(), lr=1e-2, weight_decay=0.0)
    x = inputs_factory(tiny_config)
    for _ in range(3):
        opt.zero_grad()
        (omni(**x) - torch.randn_like(x["noisy_latents"])).pow(2).mean().backward()
        opt.step()
    assert not torch.equal(omni.pose_guider.proj_out.weight, before["guider"])
    assert not torch.equal(omni.patch_embed.proj.weight[:, c:], before["channels"])
