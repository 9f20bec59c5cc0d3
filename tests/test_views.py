"""The widgets driven headless, as a user would click them, against the real local server and store."""

import time

import pytest
from conftest import frame_of, noisy

from lighton_lab.corpus.corpus import Corpus
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
    assert "CER [95% CI]" in panel.table.value and panel.plot.value[:4] == b"\x89PNG"
    assert panel.progress.value == len(small) * 2
    assert panel.run_button.disabled is False and panel.stop_button.disabled is True
    assert "done" in panel.status.value


def test_sweep_panel_stop_keeps_every_finished_row_once(local_server, sample, tmp_path):
    corpus = Corpus.load(sample)
    store = Store(tmp_path / "stop.sqlite")
    panel = SweepPanel(corpus, local_server, store, concurrency=1)
    panel.dpi.value = (72, 120)
    panel.models.value = (local_server.models[0],)
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


def test_page_viewer_walks_results_worst_first(local_server, small, tmp_path):
    panel = SweepPanel(small, local_server, Store(tmp_path / "v.sqlite"))
    panel.dpi.value = (100,)
    frame = panel.run()
    viewer = PageViewer(frame, small)
    assert list(viewer.frame["cer"]) == sorted(frame["cer"], reverse=True)
    assert viewer.index == 0
    assert viewer.image.value[:4] == b"\x89PNG"
    assert "CER" in viewer.scores.value
    assert viewer.reference.value == viewer.frame.iloc[0]["reference"]
    assert "<del>" in viewer.diff.value or "<ins>" in viewer.diff.value
    viewer.next_button.click()
    assert viewer.index == 1
    viewer.previous_button.click()
    viewer.previous_button.click()
    assert viewer.index == len(frame) - 1
    by_document = errors_by_document(frame)
    assert set(by_document["document"]) == set(frame["document"])
    assert list(by_document["micro_cer"]) == sorted(by_document["micro_cer"], reverse=True)
    from_store = PageViewer(Store(tmp_path / "v.sqlite"))
    assert len(from_store.frame) >= 1 and from_store.image.value == b""


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
