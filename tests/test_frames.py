"""Summaries with intervals and paired comparisons, on frames made from stored results (no server)."""

import pandas as pd
import pytest

from lighton_lab.errors import LabError
from lighton_lab.frames import bootstrap, compare, results_to_dataframe, summary
from lighton_lab.store import Result

TEXT = "The quick brown fox jumps over the lazy dog near the river bank on a sunny day."


def frame_of(pages: dict[int, dict[int, str]]):
    """{dpi: {page: output}} -> scored frame of one document at two DPIs."""
    results = [Result(f"{dpi}-{page}", "doc.pdf", page, "h", dpi, dpi, 1540, 10, 10, "engine", "engine", {},
                      TEXT, text=text, finish_reason="stop", endpoint="local", latency_s=1.0, started=0.0,
                      finished=1.0) for dpi, outputs in pages.items() for page, text in outputs.items()]
    return results_to_dataframe(results)


def noisy(n: int) -> str:
    return TEXT[:10] + "x" * n + TEXT[10 + n:]


def test_summary_gives_intervals_around_the_micro_rates():
    frame = frame_of({100: {p: noisy(p % 5) for p in range(1, 21)}})
    row = summary(frame).iloc[0]
    assert row["cer_low"] <= row["micro_cer"] <= row["cer_high"]
    assert row["wer_low"] <= row["micro_wer"] <= row["wer_high"]
    assert row["cer_low"] < row["cer_high"]
    assert summary(frame).equals(summary(frame))  # fixed seed: the same interval every time
    assert {"looped", "truncated", "ned", "bow_f1_exact", "olmocr_ned", "omnidocbench_ned"} <= set(frame.columns)


def test_bootstrap_is_a_percentile_interval_of_the_micro_rate():
    low, high = bootstrap([0, 0, 0, 10], [100, 100, 100, 100])
    assert 0 <= low < 0.025 < high <= 0.1


def test_compare_says_no_significant_difference_for_noise():
    same = {p: noisy(p % 3) for p in range(1, 13)}
    shifted = {p: noisy((p + 1) % 3) for p in range(1, 13)}  # the same errors on other pages
    result = compare(frame_of({100: same, 200: shifted}), {"dpi": 100}, {"dpi": 200})
    assert result["pages"] == 12 and result["low"] <= 0 <= result["high"]
    assert result["verdict"] == "no significant difference"


def test_compare_names_the_better_configuration():
    result = compare(frame_of({100: {p: noisy(4) for p in range(1, 13)}, 200: {p: TEXT for p in range(1, 13)}}),
                     {"dpi": 100}, {"dpi": 200})
    assert result["difference"] < 0 and result["high"] < 0 and result["wins_b"] == 12
    assert result["verdict"].startswith("b has fewer errors")


def test_compare_refuses_ambiguous_or_disjoint_configurations():
    frame = frame_of({100: {1: TEXT}, 200: {2: TEXT}})
    with pytest.raises(LabError, match="no page was scored under both"):
        compare(frame, {"dpi": 100}, {"dpi": 200})
    with pytest.raises(LabError, match="no column"):
        compare(frame, {"colour": 1}, {"dpi": 200})
    doubled = pd.concat([frame, frame])
    with pytest.raises(LabError, match="several rows per page"):
        compare(doubled, {"variant": "engine"}, {"variant": "engine"})


def test_the_report_compares_lowest_and_highest_dpi_and_says_when_it_is_noise(tmp_path):
    from lighton_lab.report import comparisons, write_report

    same = {p: noisy(p % 3) for p in range(1, 13)}
    frame = frame_of({100: same, 200: {p: noisy((p + 1) % 3) for p in range(1, 13)}})
    table = comparisons(frame)
    (row,) = table.to_dict("records")
    assert row["compared"] == "dpi 100 → 200" and row["pages"] == 12
    assert row["verdict"] == "no significant difference"
    html = write_report(frame, tmp_path / "r.html").read_text()
    assert "no significant difference" in html and "CER [95% CI]" in html
