"""The strip plot of an evaluation (``eval_strips.png``): per test video its reference image, then the same frames of
the real video and of each method's generated video, one row each."""

from __future__ import annotations

from collections.abc import Sequence

from omnihuman_pipeline.evaluation.run import Strip

CELL_INCHES = 1.5


def strip_figure(strips: Sequence[Strip], title: str = "Evaluation: reference, real and generated frames"):
    """A matplotlib figure: for each strip a block of rows ("real", then one per method), the reference image in the
    first column of the block's first row and the frames at the same indices in the next columns.

    Args:
        strips: the evaluation's strips (``EvalResult.strips``).
        title: the figure title.

    Returns:
        The figure (saved by the catalog's ``matplotlib.MatplotlibDataset``).
    """
    import matplotlib.pyplot as plt

    methods = list(dict.fromkeys(m for s in strips for m in s.generated))
    rows = [(s, label) for s in strips for label in ["real", *methods]]
    n_cols = 1 + max((len(s.frame_index) for s in strips), default=1)
    aspect = max((s.reference.shape[1] / s.reference.shape[0] for s in strips), default=1.0)
    fig, axes = plt.subplots(max(1, len(rows)), n_cols, squeeze=False, figsize=(
        CELL_INCHES * aspect * n_cols + 1.2, CELL_INCHES * max(1, len(rows)) + 0.6))
    for ax in axes.flat:
        ax.axis("off")
    if not rows:
        axes[0, 0].text(0.0, 0.5, "no test video could be read", fontsize=10)
    for r, (strip, label) in enumerate(rows):
        frames = strip.real if label == "real" else strip.generated.get(label)
        if label == "real":
            axes[r, 0].imshow(strip.reference)
            axes[r, 0].set_title(f"{strip.test_set}/{strip.video_id}\nreference", fontsize=7, loc="left")
        axes[r, 1].text(-0.04, 0.5, label, ha="right", va="center", fontsize=7, transform=axes[r, 1].transAxes)
        for c in range(len(strip.frame_index)):
            ax = axes[r, c + 1]
            if frames is None:
                ax.text(0.5, 0.5, "not generated", ha="center", va="center", fontsize=7, transform=ax.transAxes)
                continue
            ax.imshow(frames[c])
            if label == "real":
                ax.set_title(f"frame {strip.frame_index[c]}", fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
