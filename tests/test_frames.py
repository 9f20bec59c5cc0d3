"""Summaries with intervals and paired comparisons, on frames made from stored results (no server)."""

import pandas as pd
import pytest
from conftest import TEXT, frame_of, noisy

from lighton_lab.errors import LabError
from lighton_lab.frames.stats import bootstrap, compare, summary


def test_summary_gives_intervals_around_the_micro_rates(tmp_path):
    frame = frame_of({100: {p: noisy(p % 5) for p in range(1, 21)}}, tmp_path)
    row = summary(frame).iloc[0]
    assert row["cer_low"] <= row["micro_cer"] <= row["cer_high"]
    assert row["wer_low"] <= row["micro_wer"] <= row["wer_high"]
    assert row["cer_low"] < row["cer_high"]
    assert summary(frame).equals(summary(frame))  # fixed seed: the same interval every time
    assert {"looped", "truncated", "ned", "bow_f1_exact", "olmocr_ned", "omnidocbench_ned"} <= set(
        frame.columns
    )


def test_bootstrap_is_a_percentile_interval_of_the_micro_rate():
    low, high = bootstrap([0, 0, 0, 10], [100, 100, 100, 100])
    assert 0 <= low < 0.025 < high <= 0.1


def test_compare_says_no_significant_difference_for_noise(tmp_path):
    same = {p: noisy(p % 3) for p in range(1, 13)}
    shifted = {p: noisy((p + 1) % 3) for p in range(1, 13)}  # the same errors on other pages
    result = compare(frame_of({100: same, 200: shifted}, tmp_path), {"dpi": 100}, {"dpi": 200})
    assert result.pages == 12 and result.low <= 0 <= result.high and not result.significant
    assert result.verdict == "no significant difference"


def test_compare_names_the_better_configuration(tmp_path):
    result = compare(
        frame_of(
            {100: {p: noisy(4) for p in range(1, 13)}, 200: dict.fromkeys(range(1, 13), TEXT)}, tmp_path
        ),
        {"dpi": 100},
        {"dpi": 200},
    )
    assert result.difference < 0 and result.high < 0 and result.wins_b == 12 and result.significant
    assert result.verdict.startswith("b has fewer errors")


def test_compare_refuses_ambiguous_or_disjoint_configurations(tmp_path):
    frame = frame_of({100: {1: TEXT}, 200: {2: TEXT}}, tmp_path)
    with pytest.raises(LabError, match="no page was scored under both"):
        compare(frame, {"dpi": 100}, {"dpi": 200})
    with pytest.raises(LabError, match="no column"):
        compare(frame, {"colour": 1}, {"dpi": 200})
    doubled = pd.concat([frame, frame])
    with pytest.raises(LabError, match="several rows per page"):
        compare(doubled, {"variant": "engine"}, {"variant": "engine"})


def test_intervals_do_not_depend_on_the_order_of_the_rows(tmp_path):
    """Pages are resampled in (document, page) order: shuffling a frame's rows changes no interval."""
    frame = frame_of(
        {100: {p: noisy(p % 5) for p in range(1, 21)}, 200: {p: noisy(p % 3) for p in range(1, 21)}}, tmp_path
    )
    shuffled = frame.sample(frac=1.0, random_state=3)
    assert list(shuffled.index) != list(frame.index)
    columns = ["cer_low", "cer_high", "wer_low", "wer_high"]
    assert summary(shuffled)[columns].equals(summary(frame)[columns])
    a, b = compare(frame, {"dpi": 100}, {"dpi": 200}), compare(shuffled, {"dpi": 100}, {"dpi": 200})
    assert (a.low, a.high) == (b.low, b.high)
