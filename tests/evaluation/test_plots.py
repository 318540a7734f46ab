"""The strip plot: one block per test video (reference, real frames, each method's frames), saved by the catalog's
matplotlib dataset."""

from __future__ import annotations

import numpy as np
from kedro_datasets.matplotlib import MatplotlibDataset

from omnihuman_pipeline.evaluation.plots import strip_figure
from omnihuman_pipeline.evaluation.run import Strip

from .conftest import frames_of


def test_strip_plot_is_written(tmp_path):
    """Two videos x (real + two methods, one of which failed on the second video) -> a 6 x 4 grid, written as PNG."""
    import matplotlib.pyplot as plt

    both = {"stage2": frames_of(3, 2), "stage3": frames_of(3, 3)}
    strips = [Strip("val", "a", frames_of(1)[0], frames_of(3, 1), both, (4, 12, 20)),
              Strip("val", "b", frames_of(1, 4)[0], frames_of(3, 5), {"stage3": frames_of(3, 6)}, (4, 12, 20))]
    fig = strip_figure(strips)
    assert np.array(fig.axes).size == 6 * 4
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts.count("real") == 2 and texts.count("stage2") == 2 and "not generated" in texts
    MatplotlibDataset(filepath=str(tmp_path / "eval_strips.png")).save(fig)
    plt.close(fig)
    assert (tmp_path / "eval_strips.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_strip_plot_without_videos_says_so():
    """No readable test video: a one-cell figure with a note instead of an error."""
    fig = strip_figure([])
    assert [t.get_text() for ax in fig.axes for t in ax.texts] == ["no test video could be read"]
