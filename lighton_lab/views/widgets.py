"""Interactive panels for notebooks: ``SweepPanel`` to run sweeps, ``PageViewer`` to read the results.

Both are plain ipywidgets with their logic in methods, so tests drive them without a browser:
construct, set the selectors' values, call ``run_button.click()``, ``wait()``, read ``frame``.
The sweep runs in a background thread; the Stop button stops launching requests, and every result
that finished is already in the store (nothing is lost or stored twice).
"""

from __future__ import annotations

import html
import io
import threading
import time

import ipywidgets as w
import pandas as pd

from lighton_lab.config import SWEEP_DPIS
from lighton_lab.corpus.corpus import Corpus, Page
from lighton_lab.frames.rows import load_results
from lighton_lab.frames.stats import compact, summary
from lighton_lab.models.gpus import COST_NOTE
from lighton_lab.scoring.diff import diff_html
from lighton_lab.store.store import Store
from lighton_lab.sweep.grid import Grid, served_models
from lighton_lab.sweep.run import run_sweep
from lighton_lab.views.plots import cer_vs_dpi, png, temperature_label

DPI_CHOICES = (72, 100, 120, 150, 200, 250, 300)
# PROFILE is "the model's": its profile's cap (1540 or 2048 px) and temperature (0.2; 0.1 for LightOnOCR-3),
# so the panel's default run shares its stored results with a default Grid() in code (None there).
PROFILE = "profile"
CAP_CHOICES = (("model's", PROFILE), *((str(v), v) for v in (1024, 1280, 1540, 2048)))
TEMPERATURE_CHOICES = (("model's", PROFILE), *((str(v), v) for v in (0.0, 0.1, 0.2, 0.4, 0.7, 1.0)))


class SweepPanel(w.VBox):
    """Choose DPIs, caps, temperatures, models and documents; Run; watch progress; read the table and plot."""

    def __init__(self, corpus: Corpus, endpoints, store: Store | None = None, concurrency: int | None = None):
        self.corpus, self.endpoints, self.store, self.concurrency = (
            corpus,
            endpoints,
            store or Store(),
            concurrency,
        )
        models = served_models(endpoints)
        self.dpi = w.SelectMultiple(options=DPI_CHOICES, value=SWEEP_DPIS, description="DPI", rows=4)
        self.max_side = w.SelectMultiple(
            options=CAP_CHOICES, value=(PROFILE,), description="cap (px)", rows=4
        )
        self.temperature = w.SelectMultiple(
            options=TEMPERATURE_CHOICES, value=(PROFILE,), description="temperature", rows=4
        )
        self.models = w.SelectMultiple(options=models, value=tuple(models[:1]), description="models", rows=4)
        self.documents = w.SelectMultiple(options=corpus.documents, value=(), description="documents", rows=4)
        tags = sorted({t for p in corpus for t in p.tags})
        self.tags = w.SelectMultiple(options=tags, value=(), description="tags", rows=4)
        self.estimate_button = w.Button(
            description="Estimate",
            icon="calculator",
            tooltip="requests the store spares, requests left, GPU time and dollars",
        )
        self.estimate = w.HTML()
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.stop_button = w.Button(description="Stop", button_style="warning", icon="stop", disabled=True)
        self.progress = w.IntProgress(value=0, min=0, max=1, description="0 / 0")
        self.status = w.HTML("Pick settings and press Run. Results already in the store are reused.")
        self.table = w.HTML(layout=w.Layout(width="100%", overflow="auto"))
        self.plot = w.Image(format="png")
        self.run_button.on_click(lambda _: self.start())
        self.estimate_button.on_click(lambda _: self.plan())
        self.stop_button.on_click(lambda _: self.stop())
        self.frame = None
        self.error: Exception | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        super().__init__(
            [
                w.HBox([self.dpi, self.max_side, self.temperature]),
                w.HBox([self.models, self.documents, self.tags]),
                w.HBox([self.estimate_button, self.run_button, self.stop_button, self.progress]),
                self.estimate,
                self.status,
                self.table,
                self.plot,
            ]
        )

    def selected_pages(self) -> list[Page]:
        corpus = self.corpus.filter(
            documents=list(self.documents.value) or None, tags=list(self.tags.value) or None
        )
        return corpus.pages

    def grid(self) -> Grid:
        return Grid(
            dpi=sorted(self.dpi.value),
            max_side=_profile_first(self.max_side.value),
            temperature=_profile_first(self.temperature.value),
            model=list(self.models.value),
        )

    def plan(self):
        """What Estimate does: the plan of the current choices (renders pages the store has not seen)."""
        from lighton_lab.sweep.plan import plan_sweep

        pages = self.selected_pages()
        if not pages or not self.models.value:
            self.estimate.value = "Choose documents and a model to estimate."
            return None
        self.estimate.value = "Estimating..."
        plan = plan_sweep(pages, self.grid(), self.endpoints, self.store)
        self.estimate.value = f"<b>Estimate:</b> {html.escape(str(plan))}"
        return plan

    def start(self) -> None:
        """What Run does: check the choices, then sweep in a background thread."""
        if self._thread is not None and self._thread.is_alive():
            self.status.value = "A sweep is already running: press Stop first."
            return
        pages = self.selected_pages()
        missing = [
            name
            for name, sel in (
                ("a DPI", self.dpi),
                ("a cap", self.max_side),
                ("a temperature", self.temperature),
                ("a model", self.models),
            )
            if not sel.value
        ]
        if missing or not pages:
            self.status.value = (
                "Choose " + ", ".join(missing or ["documents or tags that match some pages"]) + "."
            )
            return
        grid = self.grid()
        self.progress.max, self.progress.value = max(1, len(pages) * len(grid)), 0
        self.progress.description = f"0 / {self.progress.max}"
        self.error, self._stop = None, threading.Event()
        self.run_button.disabled, self.stop_button.disabled = True, False
        self.status.value = f"Running {len(pages)} pages x {len(grid)} configurations..."
        self._thread = threading.Thread(target=self._run, args=(pages, grid), daemon=True, name="sweep-panel")
        self._started = time.perf_counter()
        self._thread.start()

    def _run(self, pages: list[Page], grid: Grid) -> None:
        try:
            frame = run_sweep(
                pages,
                grid,
                self.endpoints,
                store=self.store,
                concurrency=self.concurrency,
                progress=False,
                stop=self._stop,
                on_result=self._tick,
                name="SweepPanel",
            )
            self.frame = frame
            self._show(frame)
        except Exception as exc:  # shown in the panel in plain words; the store keeps what finished
            self.error = exc
            self.status.value = f"<b>Stopped by an error:</b> {html.escape(str(exc))}"
        finally:
            self.run_button.disabled, self.stop_button.disabled = False, True

    def _tick(self, result) -> None:
        self.progress.value = min(self.progress.max, self.progress.value + 1)
        self.progress.description = f"{self.progress.value} / {self.progress.max}"

    def _show(self, frame) -> None:
        done = len(frame)
        failures = int(frame["error"].notna().sum()) if done else 0
        self.progress.value = min(self.progress.max, done)
        self.progress.description = f"{done} / {self.progress.max}"
        state = "stopped" if frame.attrs.get("status") == "stopped" else "done"
        cost = frame.attrs.get("usd")
        self.status.value = (
            f"{state}: {done} results in {time.perf_counter() - self._started:.1f} s "
            f"({frame.attrs.get('requests', 0)} requests, {frame.attrs.get('reused', 0)} reused"
            f"{f', {failures} failed: see the error column' if failures else ''})"
            + (f"; GPU time at least ${cost:.2f}, one container ({COST_NOTE})" if cost else "")
            + "."
        )
        if done:
            self.table.value = compact(summary(frame)).to_html(index=False, na_rep="–")
            if frame["cer"].notna().any():
                self.plot.value = png(cer_vs_dpi, frame)

    def stop(self) -> None:
        """What Stop does: launch nothing more; requests in flight finish and are stored."""
        self._stop.set()
        self.status.value = "Stopping: waiting for the requests in flight..."

    def run(self, wait: bool = True, timeout: float | None = None):
        """Press Run from code (notebooks run headless this way); returns the DataFrame."""
        self.start()
        if wait:
            self.wait(timeout)
        return self.frame

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


def _profile_first(values) -> list:
    """The choices in order, "the model's" first, as the Grid's None."""
    return [None] * (PROFILE in values) + sorted(v for v in values if v != PROFILE)


class PageViewer(w.VBox):
    """One result at a time: the page image, reference, output and a coloured diff, with CER/WER.

    ``PageViewer(frame, corpus)`` (or a Store instead of a frame); results are sorted worst CER first.
    """

    def __init__(
        self, source, corpus: Corpus | None = None, worst_first: bool = True, normalization: str = "markdown"
    ):
        frame = (
            load_results(source, corpus=corpus, normalization=normalization)
            if isinstance(source, Store)
            else source
        )
        self.corpus, self.normalization = corpus, normalization
        self.frame = (
            frame.sort_values("cer", ascending=False, na_position="first", kind="stable")
            if worst_first
            else frame.reset_index(drop=True)
        )
        self.frame = self.frame.reset_index(drop=True)
        labels = [
            f"{r.document} p{r.page_number} · {r.variant} · {r.dpi:g} dpi · {temperature_label(r.temperature)} · "
            + (
                "error"
                if isinstance(r.error, str)
                else f"CER {r.cer:.3f}"
                if not pd.isna(r.cer)
                else "no reference"
            )
            for r in self.frame.itertuples()
        ]
        self.picker = w.Dropdown(
            options=list(zip(labels, range(len(labels)))), description="result", layout=w.Layout(width="70%")
        )
        self.previous_button = w.Button(description="◀ previous")
        self.next_button = w.Button(description="next ▶")
        self.scores = w.HTML()
        self.image = w.Image(format="png", layout=w.Layout(max_width="480px"))
        self.reference = w.Textarea(description="reference", layout=w.Layout(width="100%", height="220px"))
        self.output = w.Textarea(description="output", layout=w.Layout(width="100%", height="220px"))
        self.diff = w.HTML()
        self.previous_button.on_click(lambda _: self.step(-1))
        self.next_button.on_click(lambda _: self.step(1))
        self.picker.observe(lambda change: self.show(change["new"]), names="value")
        super().__init__(
            [
                w.HBox([self.previous_button, self.picker, self.next_button]),
                self.scores,
                w.HBox([self.image, w.VBox([self.reference, self.output], layout=w.Layout(width="100%"))]),
                self.diff,
            ]
        )
        if len(self.frame):
            self.show(0)

    @property
    def index(self) -> int:
        return self.picker.value

    def step(self, delta: int) -> None:
        if len(self.frame):
            self.picker.value = (self.picker.value + delta) % len(self.frame)

    def show(self, index: int) -> None:
        row = self.frame.iloc[index]
        if self.picker.value != index:
            self.picker.value = index
        self.reference.value = row["reference"] or ""
        self.output.value = row["text"] if isinstance(row["text"], str) else ""
        if isinstance(row["error"], str):
            self.scores.value = f"<b>error:</b> {html.escape(row['error'])}"
            self.diff.value = ""
        elif not pd.isna(row["cer"]):
            self.scores.value = (
                f"CER <b>{row['cer']:.4f}</b> · WER <b>{row['wer']:.4f}</b> · bag-of-words F1 "
                f"{row['bow_f1']:.3f} · {row['width']}x{row['height']} px "
                f"(effective {row['effective_dpi']:.0f} dpi) · {row['latency_s']:.2f} s"
            )
            self.diff.value = diff_html(
                row["reference"],
                row["text"],
                self.normalization,
                row["reference_format"],
                row["output_format"],
            )
        else:
            self.scores.value = "no reference for this page: not scored"
            self.diff.value = ""
        self.image.value = self._image(row)

    def _image(self, row) -> bytes:
        if self.corpus is None:
            return b""
        from lighton_lab.render import render_page

        for page in self.corpus:
            if page.document == row["document"] and page.page_number == row["page_number"]:
                image = render_page(
                    page,
                    dpi=row["dpi"],
                    max_side=None if pd.isna(row["max_side"]) else int(row["max_side"]),
                )
                image.thumbnail((900, 900))
                buffer = io.BytesIO()
                image.save(buffer, format="PNG")
                return buffer.getvalue()
        return b""


def side_by_side(image, text: str, width: int = 480) -> w.HBox:
    """A page image next to its transcription (quickstart notebook)."""
    buffer = io.BytesIO()
    preview = image.copy()
    preview.thumbnail((width * 2, width * 2))
    preview.save(buffer, format="PNG")
    return w.HBox(
        [
            w.Image(value=buffer.getvalue(), format="png", layout=w.Layout(width=f"{width}px")),
            w.Textarea(value=text, layout=w.Layout(width="100%", height=f"{int(width * 1.3)}px")),
        ]
    )
