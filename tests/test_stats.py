"""What the summaries say on frames made from stored results (no server): partial configurations, failures,
layout means with intervals, paired differences along an axis, labels without meaningless parts."""

import math

import numpy as np
import pandas as pd
import pytest
from conftest import TEXT, frame_of, noisy

from lighton_lab.errors import LabError
from lighton_lab.frames.rows import load_results
from lighton_lab.frames.stats import compact, config_label, differences, summary
from lighton_lab.store.schema import Result
from lighton_lab.store.store import Store


def stored(folder, results: list[dict]):
    """A frame through a real store: one Result per dict (defaults filled in)."""
    store = Store(folder / "s.sqlite")
    for i, fields in enumerate(results):
        base = dict(key=f"k{i}", document="doc.pdf", page=1, image_hash="h", dpi=100, effective_dpi=100,
                    max_side=1540, width=10, height=10, variant="engine", model="engine", params={},
                    reference=TEXT, text=TEXT, finish_reason="stop", latency_s=1.0, started=0.0,
                    finished=1.0)  # fmt: skip
        store.put(Result(**{**base, **fields}))
    return load_results(store)


def test_a_configuration_missing_pages_is_marked_partial(tmp_path):
    frame = frame_of({100: dict.fromkeys(range(1, 7), TEXT), 200: dict.fromkeys(range(1, 5), TEXT)}, tmp_path)
    table = summary(frame).set_index("dpi")
    assert not table.loc[100, "partial"] and table.loc[200, "partial"]
    shown = compact(summary(frame)).set_index("configuration")
    assert shown.loc["engine · 200 dpi · cap 1540", "pages"] == "4 of 6, partial"
    assert shown.loc["engine · 100 dpi · cap 1540", "pages"] == 6


def test_failures_are_counted_in_the_compact_table(tmp_path):
    frame = stored(
        tmp_path,
        [{"page": 1}, {"page": 2, "text": None, "error": "doc.pdf p.2: HTTP 400: temperature must be >= 0"}],
    )
    row = compact(summary(frame)).iloc[0]
    assert row["failures"] == 1 and row["pages"] == 2


def test_throughput_is_not_computed_across_runs(tmp_path):
    """A rate over the hours between two sessions says nothing about the endpoint."""
    one_run = stored(tmp_path, [{"page": p, "run_id": 1, "started": p, "finished": p + 1.0} for p in (1, 2)])
    assert summary(one_run).iloc[0]["pages_per_s"] == pytest.approx(2 / 2.0)
    two = stored(tmp_path / "..", [{"page": 1, "run_id": 1}, {"page": 2, "run_id": 2, "started": 3600.0,
                                                               "finished": 3601.0}])  # fmt: skip
    assert summary(two).iloc[0]["pages_per_s"] is None
    assert compact(summary(two)).iloc[0]["pages/s"] == "–"


def test_layout_means_come_with_intervals_where_rows_have_boxes(tmp_path):
    frame = frame_of({100: dict.fromkeys(range(1, 11), TEXT)}, tmp_path)
    assert "layout_f1" not in summary(frame)
    values = np.linspace(0.0, 0.9, 10)
    frame = frame.assign(layout_f1=values, layout_iou=values / 2, layout_precision=values,
                         layout_recall=values, layout_block_cer=0.1, layout_reading_order=1.0, layout_labels=None,
                         grounding_errors=1)  # fmt: skip
    row = summary(frame).iloc[0]
    assert row["layout_f1"] == pytest.approx(values.mean()) and row["layout_pages"] == 10
    assert row["layout_f1_low"] < row["layout_f1"] < row["layout_f1_high"]
    assert row["layout_iou_low"] < row["layout_iou"] < row["layout_iou_high"]
    assert row["layout_labels"] is None and row["grounding_errors"] == 10
    assert compact(summary(frame)).iloc[0]["layout F1 [95% CI]"].startswith(f"{values.mean():.4f} [")


def test_differences_pair_every_dpi_with_the_highest(tmp_path):
    frame = frame_of(
        {
            72: {p: noisy(6) for p in range(1, 13)},  # clearly worse on every page
            100: {p: noisy(p % 3) for p in range(1, 13)},  # noise around 200's errors
            200: {p: noisy((p + 1) % 3) for p in range(1, 13)},
        },
        tmp_path,
    )
    table = differences(frame).set_index("dpi")
    assert list(table.index) == [72, 100, 200] and set(table["reference"]) == {200}
    assert table.loc[200, "difference"] == 0 and not table.loc[200, "significant"]
    assert table.loc[72, "difference"] > 0 and table.loc[72, "low"] > 0 and table.loc[72, "significant"]
    assert table.loc[72, "worse"] == 12 and table.loc[72, "pages"] == 12
    assert table.loc[100, "low"] <= 0 <= table.loc[100, "high"] and not table.loc[100, "significant"]
    assert differences(frame, reference=72).set_index("dpi").loc[200, "difference"] < 0


def test_differences_use_the_shared_pages_of_a_partial_configuration(tmp_path):
    frame = frame_of(
        {100: {p: noisy(4) for p in range(1, 5)}, 200: dict.fromkeys(range(1, 9), TEXT)}, tmp_path
    )
    assert differences(frame).set_index("dpi").loc[100, "pages"] == 4


@pytest.mark.parametrize(
    "row,label",
    [
        ({"variant": "rapidocr", "dpi": 72.0, "max_side": 1540, "temperature": math.nan, "mode": "plain"},
         "rapidocr · 72 dpi · cap 1540"),
        ({"variant": "1b", "dpi": 200, "max_side": None, "temperature": 0.2, "mode": "grounding"},
         "1b · 200 dpi · T=0.2 · grounding"),
        ({"variant": "x", "dpi": 100, "max_side": 1024}, "x · 100 dpi · cap 1024"),
    ],
)  # fmt: skip
def test_configuration_labels_leave_out_what_has_no_value(row, label):
    assert config_label(row) == label
    assert "–" not in config_label(row)


def test_an_empty_frame_says_so():
    with pytest.raises(LabError, match="no rows"):
        summary(pd.DataFrame())


def test_a_comparison_shows_itself_as_a_table_in_a_notebook(tmp_path):
    from lighton_lab.frames.stats import compare

    frame = frame_of(
        {100: {p: noisy(4) for p in range(1, 13)}, 200: dict.fromkeys(range(1, 13), TEXT)}, tmp_path
    )
    html = compare(frame, {"dpi": 100}, {"dpi": 200})._repr_html_()
    assert "<th style='text-align:left'>verdict</th><td style='text-align:left'>b has fewer errors" in html
    assert "dpi=100" in html and "12 / 0 / 0" in html
