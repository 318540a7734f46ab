"""Tests of the result types and the bootstrap over videos."""

from __future__ import annotations

import math

import numpy as np
import pytest

from omnihuman_pipeline.metrics.base import (
    MetricResult,
    bootstrap_indices,
    mean_with_interval,
    percentile_interval,
)


def test_percentile_interval_by_hand():
    """The 95 % interval of 0..100 is the 2.5th and 97.5th percentiles (2.5, 97.5); NaNs are ignored."""
    samples = np.append(np.arange(101.0), np.nan)
    assert percentile_interval(samples, 0.95) == pytest.approx((2.5, 97.5))
    assert all(math.isnan(v) for v in percentile_interval(np.array([np.nan])))


def test_mean_with_interval_is_seeded_and_brackets_the_mean():
    """Same seed, same interval; the interval contains the mean and equals a loop over the same resamples."""
    values = np.random.default_rng(0).normal(3.0, 1.0, 40)
    mean, lo, hi = mean_with_interval(values, n_bootstrap=500, seed=7)
    assert (mean, lo, hi) == mean_with_interval(values, n_bootstrap=500, seed=7)
    assert lo < mean < hi and mean == pytest.approx(values.mean())
    loop = [values[idx].mean() for idx in bootstrap_indices(40, 500, 7)]
    assert (lo, hi) == pytest.approx(tuple(np.percentile(loop, [2.5, 97.5])))


def test_one_video_has_no_interval():
    """A single video gives its value and a NaN interval."""
    mean, lo, hi = mean_with_interval(np.array([2.0]))
    assert mean == 2.0 and math.isnan(lo) and math.isnan(hi)


def test_not_ok_result():
    """An unavailable result carries NaN, the status and the reason."""
    r = MetricResult.not_ok("fid", "inception_fid", "unavailable", "missing")
    assert math.isnan(r.value) and r.status == "unavailable" and r.reason == "missing" and r.n == 0
