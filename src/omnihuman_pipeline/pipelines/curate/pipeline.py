"""Declaration of the curate pipeline."""

from kedro.pipeline import Node, Pipeline

from omnihuman_pipeline.pipelines.curate.nodes import (
    assign_clip_eligibility,
    caption_eligible_clips,
    curate_videos,
    summarize_curation,
    write_selected_media,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                curate_videos,
                ["raw_videos", "curate_store", "params:media", "params:scenes", "params:scorers", "params:executor"],
                ["videos", "clip_scores", "analysis_timings"],
                name="curate_videos_node",
            ),
            Node(assign_clip_eligibility, ["clip_scores", "params:eligibility", "params:scorers"], "clips_eligible",
                 name="assign_clip_eligibility_node"),
            Node(write_selected_media,
                 ["clips_eligible", "videos", "curate_store", "params:media", "params:executor", "analysis_timings"],
                 ["clips_with_media", "curate_timings"], name="write_selected_media_node"),
            Node(caption_eligible_clips, ["clips_with_media", "params:caption"], "clips",
                 name="caption_eligible_clips_node"),
            Node(summarize_curation, ["videos", "clips", "curate_timings", "params:eligibility"],
                 ["curate_summary", "curate_funnel", "curate_histograms"], name="summarize_curation_node"),
        ]
    )
