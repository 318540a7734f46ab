"""Generation (paper §3.4): flow-matching sampling with text/audio CFG, long-video continuation, speaker masks."""

from omnihuman_pipeline.inference.conditions import (
    DRIVES,
    GenerationError,
    active_conditions,
    check_checkpoint,
    resolve_drive,
)
from omnihuman_pipeline.inference.run import (
    RESULT_COLUMNS,
    Checkpoint,
    GenerateSettings,
    GenerationJob,
    generate_video,
    load_checkpoint,
    resolve_jobs,
    run_jobs,
    sample_segments,
)
from omnihuman_pipeline.inference.sampler import (
    Guidance,
    GuidedDenoiser,
    SegmentConditions,
    combine_guidance,
    euler_step,
    flow_sigmas,
    sample_flow,
    shift_sigmas,
)
from omnihuman_pipeline.inference.segments import SegmentPlan, motion_latents, plan_segments

__all__ = [
    "DRIVES",
    "RESULT_COLUMNS",
    "Checkpoint",
    "GenerateSettings",
    "GenerationError",
    "GenerationJob",
    "Guidance",
    "GuidedDenoiser",
    "SegmentConditions",
    "SegmentPlan",
    "active_conditions",
    "check_checkpoint",
    "combine_guidance",
    "euler_step",
    "flow_sigmas",
    "generate_video",
    "load_checkpoint",
    "motion_latents",
    "plan_segments",
    "resolve_drive",
    "resolve_jobs",
    "run_jobs",
    "sample_flow",
    "sample_segments",
    "shift_sigmas",
]
