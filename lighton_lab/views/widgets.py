"""Interactive panels for notebooks: ``SweepPanel`` to run sweeps, ``PageViewer`` to read the results.

Both are plain ipywidgets with their logic in methods, so tests drive them without a browser:
construct, set the selectors' values, call ``run_button.click()``, ``wait()``, read ``frame``.
The sweep runs in a background thread; the Stop button stops launching requests, and every result
that finished is already in the store (nothing is lost or stored twice).

The panel has no traps a click can fall into: Estimate checks the choices as Run does and answers in the
panel (never only in the log console); the estimate is redone after a Run or a Stop and marked stale when a
choice changes; charts are drawn off pyplot (``views.plots``), so the notebook's own plots keep showing.
The notebook's cells after the panel follow its selection: ``results()`` is the last Run's frame (running
once when nothing ran), ``pair()`` the two configurations to ``compare``.
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
from lighton_lab.errors import LabError
from lighton_lab.frames.rows import CONFIG_COLUMNS, load_results
from lighton_lab.frames.stats import compact, config_label, summary
from lighton_lab.store.store import Store
from lighton_lab.sweep.grid import Grid, served_models
from lighton_lab.sweep.run import run_sweep
from lighton_lab.views.findings import findings, or_dash
from lighton_lab.views.overlay import colour, draw, grounded, labels_of, row_blocks
from lighton_lab.views.plots import cer_change_vs_dpi, cer_vs_dpi, png, to_png
from lighton_lab.views.textdiff import diff_html

DPI_CHOICES = (50, 72, 100, 120, 150, 200, 250, 300)  # from where the CPU engines start to lose text up
# PROFILE is "the model's": its profile's cap (1540 or 2048 px) and temperature (0.2; 0.1 for LightOnOCR-3),
# so the panel's default run shares its stored results with a default Grid() in code (None there).
PROFILE = "profile"
CAP_CHOICES = (("model's", PROFILE), *((str(v), v) for v in (1024, 1280, 1540, 2048)))
TEMPERATURE_CHOICES = (("model's", PROFILE), *((str(v), v) for v in (0.0, 0.1, 0.2, 0.4, 0.7, 1.0)))
LABEL_STYLE = {"description_width": "88px"}  # room for "temperature" beside its list
HIDDEN, SHOWN = "none", ""  # layout.display of a widget with nothing to show yet (no broken image, no bar)


class SweepPanel(w.VBox):
    """Choose DPIs, caps, temperatures, models and documents; Estimate; Run; Stop; read findings, the
    table and the charts."""

    def __init__(self, corpus: Corpus, endpoints, store: Store | None = None, concurrency: int | None = None):
        self.corpus, self.endpoints, self.store = corpus, endpoints, store or Store()
        self.concurrency = concurrency
        models = served_models(endpoints)

        def choose(options, value, description):
            return w.SelectMultiple(
                options=options, value=value, description=description, rows=5, style=LABEL_STYLE
            )

        self.dpi = choose(DPI_CHOICES, tuple(d for d in SWEEP_DPIS if d in DPI_CHOICES), "DPI")
        self.max_side = choose(CAP_CHOICES, (PROFILE,), "cap (px)")
        self.temperature = choose(TEMPERATURE_CHOICES, (PROFILE,), "temperature")
        self.models = choose(models, tuple(models[:1]), "models")
        self.documents = choose(corpus.documents, (), "documents")
        self.tags = choose(sorted({t for p in corpus for t in p.tags}), (), "tags")
        self.estimate_button = w.Button(
            description="Estimate",
            icon="calculator",
            tooltip="results stored, requests left, GPU time, dollars",
        )
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.stop_button = w.Button(description="Stop", button_style="warning", icon="stop", disabled=True)
        self.progress = w.IntProgress(value=0, min=0, max=1, description="0 / 0")
        self.estimate = w.HTML()
        self.status = w.HTML("Pick settings and press Run. Results already in the store are reused.")
        self.table = w.HTML(layout=w.Layout(width="100%", overflow="auto", display=HIDDEN))
        self.plot = w.Image(format="png", layout=w.Layout(width="50%", display=HIDDEN))  # paired change
        self.marginal = w.Image(format="png", layout=w.Layout(width="50%", display=HIDDEN))  # CER by DPI
        self.run_button.on_click(lambda _: self.start())
        self.estimate_button.on_click(lambda _: self.plan())
        self.stop_button.on_click(lambda _: self.stop())
        for selector in (self.dpi, self.max_side, self.temperature, self.models, self.documents, self.tags):
            selector.observe(lambda _: self._stale(), names="value")
        self.frame = None
        self.error: Exception | None = None
        self._estimated = False
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        super().__init__([
            w.HBox([self.dpi, self.max_side, self.temperature]),
            w.HBox([self.models, self.documents, self.tags]),
            w.HBox([self.estimate_button, self.run_button, self.stop_button, self.progress]),
            self.estimate, self.status, self.table, w.HBox([self.plot, self.marginal]),
        ])  # fmt: skip

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

    def problem(self) -> str | None:
        """What is missing from the choices, in words (Estimate and Run both check it); None when complete."""
        missing = [name for name, sel in (("a DPI", self.dpi), ("a cap", self.max_side),
                                          ("a temperature", self.temperature), ("a model", self.models))
                   if not sel.value]  # fmt: skip
        if missing:
            return "Choose " + ", ".join(missing) + "."
        if not self.selected_pages():
            return "Choose documents or tags that match some pages."
        return None

    def plan(self):
        """What Estimate does: the plan of the current choices (renders pages the store has not seen)."""
        from lighton_lab.sweep.plan import plan_sweep

        problem = self.problem()
        if problem:
            self.estimate.value, self._estimated = f"<b>Estimate:</b> {html.escape(problem)}", False
            return None
        self.estimate.value = "Estimating..."
        try:
            plan = plan_sweep(self.selected_pages(), self.grid(), self.endpoints, self.store)
        except Exception as exc:  # said in the panel, where the user looks, not in the log console
            self.estimate.value, self._estimated = (
                f"<b>Could not estimate:</b> {html.escape(str(exc))}",
                False,
            )
            return None
        self.estimate.value = f"<b>Estimate</b> ({time.strftime('%H:%M:%S')}): {html.escape(str(plan))}"
        self._estimated = True
        return plan

    def _stale(self) -> None:
        if self._estimated:
            self.estimate.value = "<i>The choices changed: press Estimate for their plan.</i>"
            self._estimated = False

    def start(self) -> None:
        """What Run does: check the choices, then sweep in a background thread."""
        if self.running:
            self.status.value = "A sweep is already running: press Stop first."
            return
        problem = self.problem()
        if problem:
            self.status.value = html.escape(problem)
            return
        pages, grid = self.selected_pages(), self.grid()
        self.progress.max, self.progress.value = max(1, len(pages) * len(grid)), 0
        self.progress.description = f"0 / {self.progress.max}"
        self.error, self._stop = None, threading.Event()
        self.run_button.disabled, self.stop_button.disabled = True, False
        self.status.value = f"Running {len(pages)} pages x {len(grid)} configurations..."
        self._thread = threading.Thread(target=self._run, args=(pages, grid), daemon=True, name="sweep-panel")
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self, pages: list[Page], grid: Grid) -> None:
        try:
            frame = run_sweep(pages, grid, self.endpoints, store=self.store, concurrency=self.concurrency,
                              progress=False, stop=self._stop, on_result=self._tick, name="SweepPanel")  # fmt: skip
            self.frame = frame
            self._show(frame)
        except Exception as exc:  # shown in the panel in plain words; the store keeps what finished
            self.error = exc
            self.status.value = f"<b>Stopped by an error:</b> {html.escape(str(exc))}"
        finally:
            self.run_button.disabled, self.stop_button.disabled = False, True
            if self._estimated:  # what is left to do changed: say it now, not what it was before the run
                self.plan()

    def _tick(self, result) -> None:
        self.progress.value = min(self.progress.max, self.progress.value + 1)
        self.progress.description = f"{self.progress.value} / {self.progress.max}"

    def _show(self, frame) -> None:
        done = len(frame)
        self.progress.value = min(self.progress.max, done)
        self.progress.description = f"{done} / {self.progress.max}"
        state = "stopped" if frame.attrs.get("status") == "stopped" else "done"
        said = frame.attrs.get("report", f"{done} results").split(": ", 1)[-1]
        found = findings(frame) if done else []
        self.status.value = f"{state}: {html.escape(said)}." + (
            "<ul>" + "".join(f"<li>{html.escape(f)}</li>" for f in found) + "</ul>" if found else ""
        )
        if not done:
            return
        self.table.value = compact(summary(frame)).to_html(index=False, na_rep="–")
        self.table.layout.display = SHOWN
        if frame["cer"].notna().any():
            self.plot.value, self.marginal.value = png(cer_change_vs_dpi, frame), png(cer_vs_dpi, frame)
            self.plot.layout.display = self.marginal.layout.display = SHOWN

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

    def results(self, timeout: float | None = None):
        """The frame of the panel's last Run, waiting for one still running; when nothing ran yet, Run with
        the current choices (a headless notebook). The cell after the panel never starts a second sweep."""
        if self._thread is None:
            return self.run(timeout=timeout)
        self.wait(timeout)
        return self.frame

    def pair(self) -> tuple[dict, dict]:
        """The two configurations of the last Run that ``compare`` should pair: its lowest and its highest
        DPI at the first model, cap and temperature it ran, so a notebook's compare cell follows the panel."""
        frame = self.frame
        if frame is None or not frame["cer"].notna().any():
            raise LabError("Run the panel first: compare needs scored results of the panel's choices")
        dpis = sorted(frame["dpi"].dropna().unique())
        if len(dpis) < 2:
            raise LabError("Choose at least two DPIs in the panel and Run: compare pairs two of them")
        first = frame.iloc[0]
        fixed = {c: first[c] for c in ("variant", "max_side", "temperature", "mode") if c in frame}
        fixed = {k: _plain(v) for k, v in fixed.items() if not pd.isna(v)}
        return {**fixed, "dpi": _plain(dpis[0])}, {**fixed, "dpi": _plain(dpis[-1])}


def _plain(value):
    """A numpy scalar as the Python number it holds (``{'dpi': 72}``, not ``np.int64(72)``, in a notebook)."""
    return value.item() if hasattr(value, "item") else value


def _profile_first(values) -> list:
    """The choices in order, "the model's" first, as the Grid's None."""
    return [None] * (PROFILE in values) + sorted(v for v in values if v != PROFILE)


class PageViewer(w.VBox):
    """One page at a time under one configuration: the page image (a grounded answer's boxes drawn over
    it), reference, output and a coloured diff, with the scores.

    ``PageViewer(frame, corpus)`` (or a Store instead of a frame). Pages are listed worst CER first under
    the chosen configuration; "next" goes to the next page (never the same page at another DPI: that is
    the configuration menu). For grounded rows, one chip per label hides or shows its boxes.
    """

    def __init__(self, source, corpus: Corpus | None = None, worst_first: bool = True,
                 normalization: str = "markdown", furniture: str = "keep"):  # fmt: skip
        if isinstance(source, Store):
            source = load_results(source, corpus=corpus, normalization=normalization, furniture=furniture)
        self.corpus, self.normalization, self.furniture, self.worst_first = (
            corpus, normalization, furniture, worst_first)  # fmt: skip
        self.frame = source.reset_index(drop=True)
        self._pages = {(p.document, p.page_number): p for p in corpus} if corpus is not None else {}
        keys = [c for c in CONFIG_COLUMNS if c in self.frame]
        codes = ["|".join(map(str, values)) for values in self.frame[keys].itertuples(index=False)]
        self._config = pd.Series(codes, index=self.frame.index, dtype=object)  # one code per configuration
        firsts = list(dict.fromkeys(self._config))
        labels = {
            c: config_label(self.frame.loc[self._config.eq(c).idxmax(), keys].to_dict()) for c in firsts
        }
        self.configuration = w.Dropdown(options=[(labels[c], c) for c in firsts], description="configuration",
                                        style=LABEL_STYLE, layout=w.Layout(width="70%"))  # fmt: skip
        self.picker = w.Dropdown(description="page", style=LABEL_STYLE, layout=w.Layout(width="70%"))
        self.previous_button = w.Button(description="◀ previous page")
        self.next_button = w.Button(description="next page ▶")
        self.scores = w.HTML()
        self.image = w.Image(format="png", layout=w.Layout(width="100%", display=HIDDEN))
        self.labels = w.HBox(layout=w.Layout(flex_flow="row wrap"))
        self.reference = w.Textarea(description="reference", layout=w.Layout(width="100%", height="320px"))
        self.output = w.Textarea(description="output", layout=w.Layout(width="100%", height="320px"))
        self.diff = w.HTML()
        self.hidden: set[str] = set()
        self._drawn = None  # (image, grounded blocks, title) of the row shown, redrawn when a chip changes
        self.previous_button.on_click(lambda _: self.step(-1))
        self.next_button.on_click(lambda _: self.step(1))
        self.configuration.observe(lambda change: self._choose(change["new"]), names="value")
        self.picker.observe(lambda change: self.show(change["new"]), names="value")
        picture = w.VBox([self.image, self.labels], layout=w.Layout(width="55%", min_width="360px"))
        texts = w.VBox([self.reference, self.output], layout=w.Layout(width="45%"))
        super().__init__([
            self.configuration, w.HBox([self.previous_button, self.picker, self.next_button]), self.scores,
            w.HBox([picture, texts]), self.diff,
        ])  # fmt: skip
        if len(self.frame):
            worst = self._ordered(self.frame.index)[0]
            if self.configuration.value == self._config[worst]:
                self._choose(self._config[worst])
            self.configuration.value = self._config[worst]  # the observer lists its pages

    def _ordered(self, index) -> list[int]:
        rows = self.frame.loc[index]
        if self.worst_first:
            rows = rows.sort_values("cer", ascending=False, na_position="first", kind="stable")
        return list(rows.index)

    def _choose(self, config: str) -> None:
        """Pages of a configuration, worst first; the page shown stays when the configuration has it."""
        here = self.frame.loc[self.picker.value] if self.picker.value is not None else None
        self.order = self._ordered(self._config.index[self._config == config])
        self.picker.options = [(_page_label(self.frame.loc[i]), i) for i in self.order]
        same = [i for i in self.order if here is not None and _page(self.frame.loc[i]) == _page(here)]
        target = same[0] if same else self.order[0]
        if self.picker.value != target:
            self.picker.value = target  # show() runs from the observer
        else:
            self.show(target)

    @property
    def index(self) -> int:
        """The position of the page shown in the configuration's list."""
        return self.order.index(self.picker.value)

    def step(self, delta: int) -> None:
        if len(self.frame):
            self.picker.value = self.order[(self.index + delta) % len(self.order)]

    def show(self, row_index: int) -> None:
        if row_index is None:
            return
        row = self.frame.loc[row_index]
        if self.picker.value != row_index:
            self.picker.value = row_index
        self.reference.value = row["reference"] if isinstance(row["reference"], str) else ""
        self.output.value = row["text"] if isinstance(row["text"], str) else ""
        self.scores.value = _scores(row)
        self.diff.value = (
            diff_html(row["reference"], row["text"], self.normalization, row["reference_format"],
                      row["output_format"])
            if not pd.isna(row["cer"]) and isinstance(row["text"], str) else ""
        )  # fmt: skip
        self._draw_row(row)

    def _draw_row(self, row) -> None:
        page = self._pages.get(_page(row))
        self._drawn, self.labels.children = None, ()
        if page is None:
            self.image.value, self.image.layout.display = b"", HIDDEN
            return
        from lighton_lab.render import render_page

        image = render_page(
            page, dpi=row["dpi"], max_side=None if pd.isna(row["max_side"]) else int(row["max_side"])
        )
        blocks = row_blocks(row.to_dict(), self.furniture)
        if blocks is None:
            image.thumbnail((900, 900))
            self.image.value = _png(image)
        else:
            self._drawn = (image, grounded(blocks, page), f"{row['document']} p.{row['page_number']} · "
                           f"{config_label(row.to_dict())}")  # fmt: skip
            self.labels.children = [self._chip(label, n) for label, n in labels_of(self._drawn[1]).items()]
            self._redraw()
        self.image.layout.display = SHOWN

    def _chip(self, label: str, count: int) -> w.ToggleButton:
        chip = w.ToggleButton(value=label not in self.hidden, description=f"{label} {count}",
                              tooltip=f"show or hide the {label} boxes",
                              layout=w.Layout(width="auto", border=f"2px solid {colour(label)}"))  # fmt: skip
        chip.observe(lambda change, label=label: self._toggle(label, change["new"]), names="value")
        return chip

    def _toggle(self, label: str, shown: bool) -> None:
        (self.hidden.discard if shown else self.hidden.add)(label)
        self._redraw()

    def _redraw(self) -> None:
        if self._drawn is not None:
            image, shown, title = self._drawn
            self.image.value = to_png(draw(image, shown, self.hidden, title))


def _page(row) -> tuple:
    return (row["document"], row["page_number"])


def _page_label(row) -> str:
    state = ("error" if isinstance(row["error"], str) else f"CER {row['cer']:.3f}" if not pd.isna(row["cer"])
             else "no reference")  # fmt: skip
    return f"{row['document']} p{row['page_number']} · {state}"


def _scores(row) -> str:
    if isinstance(row["error"], str):
        return f"<b>error:</b> {html.escape(row['error'])}"
    parts = []
    if not pd.isna(row["cer"]):
        parts.append(
            f"CER <b>{row['cer']:.4f}</b> · WER <b>{row['wer']:.4f}</b> · bag-of-words F1 {row['bow_f1']:.3f}"
        )
    else:
        parts.append("no reference for this page: not scored")
    parts.append(f"{row['width']}x{row['height']} px (effective {row['effective_dpi']:.0f} dpi)"
                 + (f" · {row['latency_s']:.2f} s" if not pd.isna(row.get("latency_s")) else ""))  # fmt: skip
    if not pd.isna(row.get("layout_f1")):
        parts.append(f"layout F1 <b>{row['layout_f1']:.2f}</b> (precision {row['layout_precision']:.2f}, recall "
                     f"{row['layout_recall']:.2f}) · mean IoU {or_dash(row['layout_iou'])}")  # fmt: skip
    if not pd.isna(row.get("blocks")):
        parts.append(f"{int(row['blocks'])} blocks")
    if isinstance(row.get("problems"), str):
        parts.append(
            f"<b>{int(row['grounding_errors'])} format problem(s):</b> {html.escape(row['problems'])}"
        )
    return " · ".join(parts)


def _png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def side_by_side(image, text: str, width: int = 480) -> w.HBox:
    """A page image next to its transcription (quickstart notebook)."""
    preview = image.copy()
    preview.thumbnail((width * 2, width * 2))
    return w.HBox(
        [
            w.Image(value=_png(preview), format="png", layout=w.Layout(width=f"{width}px")),
            w.Textarea(value=text, layout=w.Layout(width="100%", height=f"{int(width * 1.3)}px")),
        ]
    )
