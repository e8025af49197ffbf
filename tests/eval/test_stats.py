import math

import pytest

from eval.stats import bootstrap, paired_difference


def test_interval_of_a_known_case() -> None:
    # 100 items, half right: mean 0.5; the bootstrap standard error is sqrt(.25/100) = 0.05, so the 95 % interval
    # is about 0.5 +- 1.96 * 0.05 = [0.402, 0.598]
    estimate = bootstrap([1.0] * 50 + [0.0] * 50, resamples=4000, seed=1)
    assert estimate.mean == 0.5 and estimate.n == 100
    assert estimate.low == pytest.approx(0.402, abs=0.02) and estimate.high == pytest.approx(0.598, abs=0.02)


def test_constant_scores_have_a_zero_width_interval_and_seeds_repeat() -> None:
    assert bootstrap([0.7] * 10).to_json() == {"mean": 0.7, "ci95": [0.7, 0.7], "n": 10}
    assert bootstrap([0, 1, 1, 0, 1], seed=3) == bootstrap([0, 1, 1, 0, 1], seed=3)
    assert math.isnan(bootstrap([]).mean)


def test_paired_difference_is_item_by_item() -> None:
    # the system is right on every item the baseline gets right, plus 20 more: per-item differences are twenty 1s
    # and eighty 0s, mean 0.2, standard error sqrt(.2 * .8 / 100) = 0.04, so roughly [0.12, 0.28]
    baseline = [1.0] * 40 + [0.0] * 60
    system = [1.0] * 60 + [0.0] * 40
    difference = paired_difference(system, baseline, seed=0)
    assert difference.mean == pytest.approx(0.2)
    assert 0.11 < difference.low < 0.2 < difference.high < 0.29
    with pytest.raises(ValueError, match="same items"):
        paired_difference([1, 0], [1])
