"""The widgets driven headless, as a user would click them, against the real local server and store."""

import time

import pytest
from conftest import TEXT, frame_of, noisy

from lighton_lab.corpus.corpus import Corpus
from lighton_lab.errors import LabError
from lighton_lab.store.store import Store
from lighton_lab.views.analysis import char_class, confusion_pairs, errors_by_class, errors_by_document
from lighton_lab.views.widgets import PageViewer, SweepPanel


@pytest.fixture()
def small(sample):
    return Corpus.load(sample).filter(["table.pdf", "scan_receipt.jpg", "minutes.tif"])


def test_sweep_panel_run_end_to_end(local_server, small, tmp_path):
    store = Store(tmp_path / "panel.sqlite")
    panel = SweepPanel(small, local_server, store)
    panel.dpi.value = (100, 200)
    panel.models.value = (local_server.models[0],)
    panel.run_button.click()
    assert panel.stop_button.disabled is False
    panel.wait(300)
    assert panel.error is None
    frame = panel.frame
    assert len(frame) == len(small) * 2
    assert set(frame["dpi"]) == {100, 200}
    assert store.count() >= len(small)  # capped pages may share one result
    assert "CER [95% CI]" in panel.table.value and "failures" in panel.table.value
    assert panel.plot.value[:4] == b"\x89PNG" and panel.marginal.value[:4] == b"\x89PNG"
    assert panel.plot.layout.display == "" and panel.table.layout.display == ""
    assert panel.progress.value == len(small) * 2
    assert panel.run_button.disabled is False and panel.stop_button.disabled is True
    assert panel.status.value.startswith("done: ") and "requests sent" in panel.status.value
    assert "<li>" in panel.status.value and "200 DPI" in panel.status.value  # the findings, in sentences
    assert panel.results() is frame  # the notebook's next cell reads this run, it does not start another
    a, b = panel.pair()
    assert (a["dpi"], b["dpi"]) == (100, 200) and a["variant"] == b["variant"] == local_server.models[0]
    assert "temperature" not in a  # engines take none: no NaN that compare could never match


def test_sweep_panel_stop_keeps_every_finished_row_once(local_server, small, tmp_path):
    corpus = small
    store = Store(tmp_path / "stop.sqlite")
    panel = SweepPanel(corpus, local_server, store, concurrency=1)
    panel.dpi.value = (72, 120)
    panel.models.value = (local_server.models[0],)
    panel.estimate_button.click()
    before = panel.estimate.value
    assert before.startswith("<b>Estimate</b>")
    panel.run_button.click()
    deadline = time.monotonic() + 120
    while panel.progress.value < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    panel.stop_button.click()
    panel.wait(300)
    stopped = panel.frame
    assert stopped.attrs["status"] == "stopped"
    assert 2 <= len(stopped) < len(corpus) * 2
    stored = store.results()
    assert len({r.key for r in stored}) == len(stored)
    assert set(stopped["key"]) <= {r.key for r in stored}  # every row shown is stored
    assert len(stored) == stopped["key"].nunique()  # and nothing stored is missing from the table
    if stopped.groupby("dpi").size().nunique() > 1:  # the configurations got different page sets
        assert "partial" in panel.table.value and "lack pages" in panel.status.value
    assert "Estimate" in panel.estimate.value and "to get" in panel.estimate.value  # redone after Stop
    panel.run_button.click()  # resume: the stopped part is reused, the rest completes
    panel.wait(600)
    assert len(panel.frame) == len(corpus) * 2
    assert panel.frame.attrs["reused"] >= len(stored)
    keys = [r.key for r in store.results()]
    assert len(keys) == len(set(keys))


def test_panel_says_what_is_missing(local_server, small, tmp_path):
    panel = SweepPanel(small, local_server, Store(tmp_path / "x.sqlite"))
    panel.models.value = ()
    panel.run_button.click()
    assert "Choose a model" in panel.status.value
    assert panel._thread is None
    panel.models.value, panel.dpi.value = (local_server.models[0],), ()
    panel.estimate_button.click()  # answers in the panel, as Run does; it used to hang at "Estimating..."
    assert panel.estimate.value == "<b>Estimate:</b> Choose a DPI."
    panel.run_button.click()
    assert panel.status.value == "Choose a DPI."
    panel.dpi.value, panel.documents.value = (100,), ("table.pdf",)
    panel.estimate_button.click()
    assert (
        panel.estimate.value.startswith("<b>Estimate</b>")
        and "1 pages x 1 configurations" in panel.estimate.value
    )
    panel.dpi.value = (100, 200)
    assert "choices changed" in panel.estimate.value  # a stale estimate is never shown as current
    assert panel.plot.layout.display == "none" and panel.table.layout.display == "none"  # nothing empty shown
    with pytest.raises(LabError, match="Run the panel first"):
        panel.pair()


def test_page_viewer_walks_pages_of_one_configuration_worst_first(local_server, small, tmp_path):
    panel = SweepPanel(small, local_server, Store(tmp_path / "v.sqlite"))
    panel.dpi.value = (100, 200)
    frame = panel.run()
    viewer = PageViewer(frame, small)
    assert len(viewer.configuration.options) == 2
    shown = viewer.frame.loc[viewer.order]
    assert shown["dpi"].nunique() == 1 and len(shown) == len(small)  # one configuration, every page once
    assert list(shown["cer"]) == sorted(shown["cer"], reverse=True)
    assert viewer.index == 0 and viewer.frame.loc[viewer.picker.value, "cer"] == frame["cer"].max()
    assert viewer.image.value[:4] == b"\x89PNG" and viewer.labels.children == ()  # plain answer: no chips
    assert "CER" in viewer.scores.value and "lab-legend" in viewer.diff.value
    first = viewer.frame.loc[viewer.picker.value]
    assert viewer.reference.value == first["reference"]
    seen = [(first["document"], first["page_number"])]
    for _ in range(len(small) - 1):
        viewer.next_button.click()  # "next" is the next page, never the same page at another DPI
        row = viewer.frame.loc[viewer.picker.value]
        seen.append((row["document"], row["page_number"]))
    assert len(set(seen)) == len(small) and viewer.index == len(small) - 1
    viewer.next_button.click()
    assert viewer.index == 0
    viewer.previous_button.click()
    assert viewer.index == len(small) - 1
    page = seen[-1]
    other = [c for c in viewer.configuration.options if c[1] != viewer.configuration.value][0][1]
    viewer.configuration.value = other  # another DPI of the same page
    row = viewer.frame.loc[viewer.picker.value]
    assert (row["document"], row["page_number"]) == page and row["dpi"] != first["dpi"]
    by_document = errors_by_document(frame)
    assert set(by_document["document"]) == set(frame["document"])
    assert list(by_document["micro_cer"]) == sorted(by_document["micro_cer"], reverse=True)
    from_store = PageViewer(Store(tmp_path / "v.sqlite"))
    assert len(from_store.frame) >= 1 and from_store.image.value == b""


def test_page_viewer_draws_grounding_boxes_with_the_matched_ground_truth(local_server, tmp_path):
    from conftest import ROOT

    from lighton_lab.sweep.grid import Grid
    from lighton_lab.sweep.run import run_sweep

    corpus = Corpus.load(ROOT / "data" / "real").filter(["bebel_frau_1879_0146.tif"])
    grid = Grid(dpi=[100], mode=["grounding"], model=[local_server.models[0]])
    frame = run_sweep(corpus, grid, local_server, store=Store(tmp_path / "g.sqlite"), progress=False)
    assert frame.iloc[0]["blocks"] > 0 and frame.iloc[0]["layout_f1"] > 0
    viewer = PageViewer(frame, corpus)
    chips = {c.description.split()[0]: c for c in viewer.labels.children}
    assert "text" in chips and all(c.value for c in chips.values())
    drawn = viewer.image.value
    assert drawn[:4] == b"\x89PNG" and "layout F1" in viewer.scores.value
    chips["text"].value = False  # the chip hides the text boxes, as LightOn's viewer does
    assert viewer.hidden == {"text"} and viewer.image.value != drawn
    chips["text"].value = True
    assert viewer.hidden == set() and viewer.image.value == drawn


@pytest.mark.parametrize(
    "ch,cls",
    [
        ("a", "letter"),
        ("é", "diacritic"),
        ("ß", "diacritic"),
        ("7", "digit"),
        (",", "punctuation"),
        (" ", "whitespace"),
        ("€", "other"),
    ],
)
def test_char_classes(ch, cls):
    assert char_class(ch) == cls


def test_error_breakdowns_add_up():
    import pandas as pd

    frame = pd.DataFrame(
        {
            "reference": ["Café 12, rue", "modern"],
            "text": ["Cafe 12. rue", "rnodern"],
            "cer": [0.2, 0.3],
            "document": ["a", "b"],
            "variant": ["x", "x"],
        }
    )
    classes = errors_by_class(frame).set_index("class")
    assert classes.loc["diacritic", "substituted_or_deleted"] == 1
    assert classes.loc["punctuation", "substituted_or_deleted"] == 1
    assert classes.loc["letter", "reference_chars"] == 3 + 3 + 6
    pairs = confusion_pairs(frame)
    assert {("é", "e"), (",", ".")} <= set(zip(pairs["reference"], pairs["output"]))
    assert ("m", "rn") in set(zip(pairs["reference"], pairs["output"]))


def test_the_report_compares_lowest_and_highest_dpi_and_says_when_it_is_noise(tmp_path):
    from lighton_lab.views.report import comparisons, write_report

    same = {p: noisy(p % 3) for p in range(1, 13)}
    frame = frame_of({100: same, 200: {p: noisy((p + 1) % 3) for p in range(1, 13)}}, tmp_path)
    table = comparisons(frame)
    (row,) = table.to_dict("records")
    assert row["compared"] == "dpi 100 → 200" and row["pages"] == 12
    assert row["verdict"] == "no significant difference"
    html = write_report(frame, tmp_path / "r.html").read_text()
    assert "no significant difference" in html and "CER [95% CI]" in html


def test_charts_leave_the_notebooks_backend_alone(tmp_path):
    """A kernel's inline backend must survive the panel's charts (they used to call matplotlib.use("Agg"))."""
    import subprocess
    import sys

    from conftest import ROOT

    frame = frame_of(
        {72: {p: noisy(5) for p in range(1, 9)}, 200: {p: noisy(p % 2) for p in range(1, 9)}}, tmp_path
    )
    frame.to_pickle(tmp_path / "frame.pkl")
    script = f"""
import sys, matplotlib, pandas as pd
matplotlib.use("svg")  # stands for the notebook's backend, chosen before any chart
from lighton_lab.views.plots import cer_change_vs_dpi, cer_distribution, cer_vs_dpi, png
from lighton_lab.views.report import write_report
frame = pd.read_pickle({str(tmp_path / "frame.pkl")!r})
assert all(png(make, frame)[:4] == b"\\x89PNG" for make in (cer_change_vs_dpi, cer_vs_dpi, cer_distribution))
write_report(frame, {str(tmp_path / "r.html")!r})
print(matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["svg", "False"]


def test_a_chart_shows_itself_in_a_notebook(tmp_path):
    from lighton_lab.views.plots import Chart, cer_change_vs_dpi

    frame = frame_of(
        {100: {p: noisy(3) for p in range(1, 6)}, 200: dict.fromkeys(range(1, 6), TEXT)}, tmp_path
    )
    chart = cer_change_vs_dpi(frame)
    assert isinstance(chart, Chart) and chart._repr_png_()[:4] == b"\x89PNG"
    ax = chart.axes[0]
    assert "against 200 DPI" in ax.get_title() and ax.get_legend().get_texts()[0].get_text().startswith(
        "engine"
    )


@pytest.mark.parametrize(
    "reference,output,expected",
    [
        ("one two\nthree", "one two\nthree", "one two\nthree"),  # line breaks kept
        ("one two\nthree", "onetwo three", "one<del>␣</del>two\nthree"),  # a deleted space, visible
        ("one\n\ntwo", "one two", "one\n\ntwo"),  # a blank line is a paragraph, equal to a space when scored
        ("ab", "a b", "a<ins>␣</ins>b"),
        ("one\ntwo", "onetwo", "one<del>↵\n</del>two"),
        ("cat", "cut", "c<del>a</del><ins>u</ins>t"),
    ],
)
def test_the_diff_keeps_lines_and_shows_whitespace_edits(reference, output, expected):
    from lighton_lab.views.textdiff import diff_html

    html = diff_html(reference, output, "plain", "text", "text")
    assert html.split('<div class="lab-diff">')[1].removesuffix("</div>") == expected
    assert "lab-legend" in html and "␣ a space" in html


def test_the_diff_colours_exactly_the_counted_edits():
    import re

    from lighton_lab.scoring.text import score
    from lighton_lab.views.textdiff import diff_html

    reference = "Le  procès-verbal\nde la séance du 12 mars\n\nest adopté."
    output = "Le proces verbal de la\nseance du 12 mars est adopte ."
    s = score(reference, output, "plain", reference_format="text", hypothesis_format="text")
    body = diff_html(reference, output, "plain", "text", "text", legend=False)
    deleted = "".join(re.findall(r"<del>(.*?)</del>", body, re.S)).replace("↵\n", "↵").replace("↵\n\n", "↵")
    inserted = "".join(re.findall(r"<ins>(.*?)</ins>", body, re.S)).replace("↵\n", "↵")
    assert len(deleted) == s.char_substitutions + s.char_deletions
    assert len(inserted) == s.char_substitutions + s.char_insertions


def test_findings_state_the_paired_difference_and_the_failures(tmp_path):
    from lighton_lab.views.findings import findings

    frame = frame_of(
        {72: {p: noisy(6) for p in range(1, 13)}, 200: {p: noisy(p % 2) for p in range(1, 13)}}, tmp_path
    )
    (sentence,) = findings(frame)
    assert sentence.startswith("engine · cap 1540: 72 DPI has ") and "more CER than 200 DPI [+" in sentence
    assert "on the same 12 pages (worse on 12, better on 0)" in sentence
    noise = frame_of({100: {p: noisy(p % 3) for p in range(1, 13)}, 200: {p: noisy((p + 1) % 3) for p in range(1, 13)}},
                     tmp_path)  # fmt: skip
    assert findings(noise) == [
        "No DPI changes CER significantly against 200 DPI for engine · cap 1540 on the same 12 pages "
        "(every paired 95% interval spans 0)."
    ]
    failed = frame.copy()
    failed.loc[[0, 1], ["error", "cer"]] = ["doc.pdf p.1: HTTP 400: temperature must be >= 0", None]
    failed.loc[1, "error"] = "doc.pdf p.2: HTTP 400: temperature must be >= 0"
    assert findings(failed)[0] == (
        "2 of 24 results failed (no text, not scored): “HTTP 400: temperature must be >= 0”. See the error column."
    )


def test_the_report_opens_with_findings_and_draws_the_paired_chart(tmp_path):
    from lighton_lab.views.report import write_report

    frame = frame_of(
        {72: {p: noisy(6) for p in range(1, 13)}, 200: {p: noisy(p % 2) for p in range(1, 13)}}, tmp_path
    )
    html = write_report(frame, tmp_path / "r.html").read_text()
    assert html.index("<h2>Findings</h2>") < html.index("72 DPI has") < html.index("<table")
    assert 'alt="cer_change_vs_dpi"' in html and 'alt="cer_vs_dpi"' in html
    assert "T=–" not in html and "failures" in html


def test_the_report_draws_the_boxes_of_the_worst_layout_pages(local_server, tmp_path):
    from conftest import ROOT

    from lighton_lab.sweep.grid import Grid
    from lighton_lab.sweep.run import run_sweep
    from lighton_lab.views.report import write_report

    corpus = Corpus.load(ROOT / "data" / "real").filter(
        ["bebel_frau_1879_0146.tif", "AN-96AP__FRAN_0150_0002_L-medium.jpg"]
    )
    grid = Grid(dpi=[100], mode=["grounding", "plain"], model=[local_server.models[0]])
    frame = run_sweep(corpus, grid, local_server, store=Store(tmp_path / "g.sqlite"), progress=False)
    html = write_report(frame, tmp_path / "r.html", corpus=corpus, worst_layout=1).read_text()
    worst = frame.sort_values("layout_f1").iloc[0]
    section = html.split("<h2>Worst layout pages</h2>")[1].split("<h2>")[0]
    assert section.count('<div class="page boxes">') == 1 and worst["document"] in section
    assert 'alt="boxes of ' in section and "layout F1" in section
    assert "layout F1 [95% CI]" in html and 'alt="layout_vs_dpi"' in html


def test_findings_compare_two_models_at_their_own_caps(tmp_path):
    """Two families at their own page sizes (LightOnOCR 1540 px, olmOCR-2 1288 px): no cap axis to pair,
    one sentence for the models."""
    import pandas as pd

    from lighton_lab.views.findings import findings

    a = frame_of({200: {p: noisy(6) for p in range(1, 13)}}, tmp_path)
    b = frame_of({200: dict.fromkeys(range(1, 13), TEXT)}, tmp_path).assign(variant="olmocr-2", max_side=1288)
    (sentence,) = findings(pd.concat([a, b], ignore_index=True))
    assert sentence.startswith("At 200 DPI, olmocr-2 has ") and "less CER than engine [-" in sentence
    assert "on the same 12 pages (worse on 0, better on 12)" in sentence
