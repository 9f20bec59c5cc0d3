"""A self-contained HTML report of a sweep: the findings in sentences first, then summaries with intervals,
paired comparisons, charts, the worst pages with their page image beside the coloured diff, and the worst
layout pages with their boxes drawn over the page.

One file (images inlined as base64) that can be mailed or attached to an issue; it never contains
endpoint headers or secrets, only what the DataFrame holds (and, given the corpus, page thumbnails).
"""

from __future__ import annotations

import base64
import html
import io
import time
from pathlib import Path

import pandas as pd

from lighton_lab.errors import LabError, RenderError
from lighton_lab.frames.stats import compact, compare, config_label, summary, worst_pages
from lighton_lab.render import render_page
from lighton_lab.views.findings import findings, or_dash
from lighton_lab.views.overlay import draw, grounded, row_blocks
from lighton_lab.views.plots import (
    cer_change_vs_dpi,
    cer_distribution,
    cer_vs_dpi,
    has_values,
    layout_vs_dpi,
    png,
    to_png,
)
from lighton_lab.views.textdiff import diff_html

_CSS = """body{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px;color:#1f2328}
table{border-collapse:collapse;font-size:.85rem}td,th{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:right}
th{background:#f6f8fa}h2{margin-top:2rem}.page{border:1px solid #d0d7de;padding:1rem;margin:1rem 0}
.meta{color:#57606a;font-size:.85rem}.pair{display:flex;gap:1rem;align-items:flex-start}
.pair img{max-width:360px;border:1px solid #d0d7de}.pair .lab-diff{flex:1}
.findings li{margin:.3rem 0}.boxes img{max-width:640px;border:1px solid #d0d7de}"""
THUMBNAIL_PX = 720  # longest side of a worst page's thumbnail, shown at half size (sharp on HiDPI screens)


def write_report(
    frame,
    path: str | Path,
    title: str = "lighton-lab sweep",
    worst: int = 8,
    corpus=None,
    sections: dict | None = None,
    worst_layout: int = 3,
) -> Path:
    """Write the report and return its path (parents are created).

    ``corpus`` adds each worst page's image beside its diff, and for answers with boxes on pages with layout
    ground truth, the ``worst_layout`` pages of lowest layout F1 with their boxes drawn over the page.
    ``sections`` ({heading: tag}) adds findings, a summary and charts for the rows carrying each tag (e.g.
    ``{"Real scans": "real"}``) before the overall ones.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">{len(frame)} results · normalization '
        f"{html.escape(str(frame.attrs.get('normalization', 'markdown')))}"
        f" · written {time.strftime('%Y-%m-%d %H:%M')} · CER intervals: 95% bootstrap over pages</p>",
    ]
    if len(frame) == 0:
        parts.append("<p>Nothing was swept: the frame has no rows.</p>")
    tagged = {}
    for heading, tag in (sections or {}).items():
        rows = frame[frame["tags"].fillna("").str.split(",").map(lambda tags, t=tag: t in tags)]
        if len(rows):
            tagged[heading] = rows
    if len(frame):
        parts += ["<h2>Findings</h2>", _findings(frame, "All results")]
        parts += [_findings(rows, heading) for heading, rows in tagged.items()]
    for heading, rows in tagged.items():
        parts += [f"<h2>{html.escape(heading)}</h2>", *_summary(rows)]
    if len(frame):
        parts += ["<h2>All results</h2>", *_summary(frame)]
    pages = {(p.document, p.page_number): p for p in corpus} if corpus is not None else {}
    parts += _worst_layout(frame, pages, worst_layout)
    parts.append("<h2>Worst pages</h2>")
    for _, row in worst_pages(frame, worst).iterrows():
        parts.append(
            _page(
                row,
                frame.attrs.get("normalization", "markdown"),
                pages.get((row["document"], row["page_number"])),
            )
        )
    path.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>",
        encoding="utf-8",
    )
    return path


def comparisons(frame):
    """Paired comparisons a reader of a DPI x cap sweep asks first: the lowest against the highest DPI at each
    cap, and the smallest against the largest cap at each DPI, per model and temperature."""
    rows = []
    for axis, other in (("dpi", "max_side"), ("max_side", "dpi")):
        keys = [c for c in ("variant", "temperature", other) if c in frame.columns]
        for key, group in frame.groupby(keys, dropna=False, sort=True):
            values = sorted(v for v in group[axis].dropna().unique())
            if len(values) < 2:
                continue
            fixed = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
            fixed = {k: v for k, v in fixed.items() if not pd.isna(v)}
            try:
                result = compare(frame, {**fixed, axis: values[0]}, {**fixed, axis: values[-1]})
            except LabError:
                continue
            rows.append(
                {
                    "compared": f"{axis} {values[0]:g} → {values[-1]:g}",
                    **{k: str(v) for k, v in fixed.items()},
                    "pages": result.pages,
                    "CER change": f"{result.difference:+.4f}",
                    "95% CI": f"[{result.low:+.4f}, {result.high:+.4f}]",
                    "better / worse / same pages": f"{result.wins_b} / {result.losses_b} / {result.ties}",
                    "verdict": result.verdict.replace("b has", "the second has").replace(
                        "a has", "the first has"
                    ),
                }
            )
    return pd.DataFrame(rows)


def _findings(frame, heading: str) -> str:
    items = "".join(f"<li>{html.escape(f)}</li>" for f in findings(frame))
    return f'<p><b>{html.escape(heading)}</b></p><ul class="findings">{items}</ul>'


def _summary(frame) -> list[str]:
    out = [compact(summary(frame)).to_html(index=False, na_rep="–")]
    pairs = comparisons(frame)
    if len(pairs):
        out.append(pairs.to_html(index=False, na_rep="–"))
    charts = [cer_change_vs_dpi, cer_vs_dpi, cer_distribution] if frame["cer"].notna().any() else []
    if has_values(frame, "layout_f1"):
        charts.append(layout_vs_dpi)
    out += [_img(png(make, frame), make.__name__) for make in charts]
    return out


def _img(data: bytes, alt: str, kind: str = "png") -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/{kind};base64,{base64.b64encode(data).decode()}">'


def _worst_layout(frame, pages: dict, n: int) -> list[str]:
    """The pages of lowest layout F1 with their boxes over the page (``views.overlay``): the ground truth's
    matched regions dotted beside each block, the regions no block matched in grey."""
    if not pages or n <= 0 or not has_values(frame, "layout_f1"):
        return []
    rows = frame[frame["layout_f1"].notna()].sort_values("layout_f1", kind="stable").head(n)
    out = ["<h2>Worst layout pages</h2>"]
    for _, row in rows.iterrows():
        page, blocks = pages.get((row["document"], row["page_number"])), row_blocks(row.to_dict())
        if page is None or blocks is None:
            continue
        try:
            image = render_page(
                page, dpi=row["dpi"], max_side=None if pd.isna(row["max_side"]) else int(row["max_side"])
            )
        except RenderError:
            continue
        head = f"{row['document']} p.{row['page_number']} · {config_label(row.to_dict())}"
        scores = (f"layout F1 {row['layout_f1']:.2f} (precision {row['layout_precision']:.2f}, recall "
                  f"{row['layout_recall']:.2f}) · {int(row['blocks'])} blocks · mean IoU of matched boxes "
                  f"{or_dash(row['layout_iou'])}")  # fmt: skip
        picture = _img(to_png(draw(image, grounded(blocks, page), title=head)), f"boxes of {head}")
        out.append(f'<div class="page boxes"><h3>{html.escape(head)}</h3><p>{scores}</p>{picture}</div>')
    return out


def _page(row, normalization: str, page) -> str:
    head = (
        f"{html.escape(str(row['document']))} p.{row['page_number']} · {html.escape(str(row['variant']))} · "
        f"{row['dpi']:g} dpi (effective {row['effective_dpi'] or 0:.0f})"
        + (f" · T={row['temperature']:g}" if not pd.isna(row["temperature"]) else "")
    )
    if isinstance(row["error"], str):
        return f'<div class="page"><h3>{head}</h3><p><b>error:</b> {html.escape(row["error"])}</p></div>'
    scores = (
        f"<p>CER {row['cer']:.3f} · NED {row['ned']:.3f} · WER {row['wer']:.3f} · bag-of-words F1 "
        f"{row['bow_f1']:.3f}{' · <b>looped</b>' if row.get('looped') else ''}</p>"
    )
    diff = diff_html(
        row["reference"], row["text"], normalization, row["reference_format"], row["output_format"]
    )
    thumb = _thumbnail(page, row) if page is not None else ""
    return f'<div class="page"><h3>{head}</h3>{scores}<div class="pair">{thumb}{diff}</div></div>'


def _thumbnail(page, row) -> str:
    """The page as it was sent (same DPI and cap), reduced to a thumbnail; empty if it cannot be rendered."""
    cap = None if pd.isna(row["max_side"]) else int(row["max_side"])
    try:
        image = render_page(page, dpi=row["dpi"], max_side=cap)
    except RenderError:
        return ""
    image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=80)
    return (
        f'<img alt="page {html.escape(str(row["document"]))} p.{row["page_number"]}" '
        f'src="data:image/jpeg;base64,{base64.b64encode(buffer.getvalue()).decode()}">'
    )
