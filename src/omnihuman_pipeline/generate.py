"""Generate one video: ``python -m omnihuman_pipeline.generate --image ref.png --audio speech.wav --out out.mp4``.

Options::

    --image PATH            reference image (picture, or a video: --image-frame picks the frame)
    --audio PATH            driving audio (any file with an audio track); also muxed into the output
    --pose PATH             pose keypoints (.npz, curate's pose arrays) or a skeleton video
    --text TEXT             caption; without it the curate captioner writes one from the reference image
    --checkpoint DIR        model folder (default data/06_models/stage3)
    --seconds N             output length (default: the audio's)
    --drive MODE            text | audio | audio_pose | pose (default: from the inputs given)
    --speaker N / --speaker-mask PATH   who speaks: the N-th face from the left, or a mask picture
    --steps, --cfg, --cfg-form, --cfg-text, --cfg-audio, --seed, --segment-frames, --device
    --env PROFILE           conf profile whose parameters_generate.yml gives the defaults (base, tiny, ...)

Defaults come from ``conf/base/parameters_generate.yml: generate`` (plus the ``--env`` profile's
overrides) and captions use ``parameters_curate.yml: caption``, exactly as ``kedro run
--pipeline=generate``; both call :func:`omnihuman_pipeline.inference.generate_video`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from omnihuman_pipeline.inference.conditions import DRIVES, GenerationError
from omnihuman_pipeline.inference.sampler import CFG_FORMS

DEFAULT_CHECKPOINT = "data/06_models/stage3"


def load_parameters(conf_source: str | Path = "conf",
                    env: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``generate`` and ``caption`` parameter groups of a Kedro conf folder (empty when there is none).

    Args:
        conf_source: the project's ``conf`` folder.
        env: profile folder merged over ``base`` (None: base only).

    Returns:
        (generate settings, caption settings).
    """
    if not (Path(conf_source) / "base").is_dir():
        return {}, {}
    from kedro.config import OmegaConfigLoader

    from omnihuman_pipeline.settings import CONFIG_LOADER_ARGS

    loader = OmegaConfigLoader(str(conf_source), **{**CONFIG_LOADER_ARGS, "default_run_env": env or "base"})
    params = loader["parameters"]
    return dict(params.get("generate") or {}), dict(params.get("caption") or {})


def help_defaults(conf_source: str | Path = "conf") -> dict[str, Any]:
    """The sampling defaults a run without flags uses (``conf/base`` over :class:`GenerateSettings`), for --help."""
    from omnihuman_pipeline.inference.run import GenerateSettings

    try:
        params, _ = load_parameters(conf_source, None)
        settings = GenerateSettings.from_params(params)
    except Exception:  # noqa: BLE001 - a broken conf must not break --help; the run reports it
        settings = GenerateSettings()
    return {"steps": settings.steps, "cfg": settings.cfg.scale, "cfg_form": settings.cfg.form,
            "cfg_text": settings.cfg.text_scale, "cfg_audio": settings.cfg.audio_scale, "device": settings.device}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    given = sys.argv[1:] if argv is None else argv
    shown = help_defaults() if {"-h", "--help"} & set(given) else {}  # read the conf only to print help

    def dflt(key: str) -> str:
        return f" (default: {shown[key]} from conf/base; --env changes it)" if key in shown else ""

    parser = argparse.ArgumentParser(prog="python -m omnihuman_pipeline.generate", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", required=True, help="reference image or video")
    parser.add_argument("--image-frame", type=int, default=0, help="frame of a video reference (25 fps; default: 0)")
    parser.add_argument("--audio", help="driving audio")
    parser.add_argument("--pose", help="pose keypoints .npz or skeleton video")
    parser.add_argument("--text", help="caption (default: written by the curate captioner)")
    parser.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT, help=f"model folder (default: {DEFAULT_CHECKPOINT})")
    parser.add_argument("--seconds", type=float, help="output length in seconds (default: the audio's)")
    parser.add_argument("--out", required=True, help="output .mp4")
    parser.add_argument("--drive", choices=sorted(DRIVES), help="driving mode (default: from the inputs)")
    parser.add_argument("--speaker", type=int, help="the speaker: n-th face from the left of the reference")
    parser.add_argument("--speaker-mask", help="or a mask picture, white on the speaker")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default: 0)")
    parser.add_argument("--steps", type=int, help="Euler steps per segment" + dflt("steps"))
    parser.add_argument("--cfg", type=float, help="joint CFG scale (paper: 6.5)" + dflt("cfg"))
    parser.add_argument("--cfg-form", choices=CFG_FORMS,
                        help="joint (one scale) | separate (text and audio scales)" + dflt("cfg_form"))
    parser.add_argument("--cfg-text", type=float, help="text scale of the separate form" + dflt("cfg_text"))
    parser.add_argument("--cfg-audio", type=float, help="audio scale of the separate form" + dflt("cfg_audio"))
    parser.add_argument("--segment-frames", type=int, help="longest segment in frames (default: the card's)")
    parser.add_argument("--device", help="torch device" + dflt("device"))
    parser.add_argument("--env", default=None, help="conf profile for the defaults (e.g. tiny)")
    parser.add_argument("--conf", default="conf", help="Kedro conf folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run one job; print its row as JSON. Exit 2 with the reason on bad input."""
    from omnihuman_pipeline.inference.run import GenerateSettings, GenerationJob, generate_video
    from omnihuman_pipeline.weights import WeightsNotFoundError

    args = parse_args(argv)
    params, caption = load_parameters(args.conf, args.env)
    cfg = dict(params.get("cfg") or {})
    for key, value in (("scale", args.cfg), ("form", args.cfg_form), ("text_scale", args.cfg_text),
                       ("audio_scale", args.cfg_audio)):
        if value is not None:
            cfg[key] = value
    overrides = {"steps": args.steps, "segment_frames": args.segment_frames, "device": args.device}
    params = {**params, **{k: v for k, v in overrides.items() if v is not None}, "cfg": cfg}
    if args.no_progress:
        params["progress"] = False
    job = GenerationJob(name=Path(args.out).stem, image=args.image, out=args.out, checkpoint=args.checkpoint,
                        audio=args.audio, pose=args.pose, text=args.text, image_frame=args.image_frame,
                        seconds=args.seconds, seed=args.seed, drive=args.drive, speaker=args.speaker,
                        speaker_mask=args.speaker_mask)
    try:
        row = generate_video(job, GenerateSettings.from_params(params), caption or None)
    except (GenerationError, WeightsNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(row, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
