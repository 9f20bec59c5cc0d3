"""A self-contained HTML report of a sweep: summary, charts, worst pages with their diffs.

One file (images inlined as base64) that can be mailed or attached to an issue; it never contains
endpoint headers or secrets, only what the DataFrame holds.
"""

from __future__ import annotations

import base64
import html
import time
from pathlib import Path

from .diff import diff_html
from .plots import cer_distribution, cer_vs_dpi, png
from .frames import summary, worst_pages

_CSS = """body{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px;color:#1f2328}
table{border-collapse:collapse;font-size:.85rem}td,th{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:right}
th{background:#f6f8fa}h2{margin-top:2rem}.page{border:1px solid #d0d7de;padding:1rem;margin:1rem 0}
.meta{color:#57606a;font-size:.85rem}"""


def write_report(frame, path: str | Path, title: str = "lighton-lab sweep", worst: int = 8) -> Path:
    """Write the report and return its path (parents are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = summary(frame)
    charts = []
    if frame["cer"].notna().any():
        charts = [base64.b64encode(png(make, frame)).decode() for make in (cer_vs_dpi, cer_distribution)]
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">{len(frame)} results · profile {html.escape(str(frame.attrs.get("profile", "markdown")))}'
        f' · written {time.strftime("%Y-%m-%d %H:%M")}</p>',
        "<h2>Summary</h2>", table.to_html(index=False, float_format=lambda v: f"{v:.4f}", na_rep="–"),
        *[f'<img alt="chart" src="data:image/png;base64,{c}">' for c in charts],
        "<h2>Worst pages</h2>",
    ]
    for _, row in worst_pages(frame, worst).iterrows():
        head = (f"{html.escape(str(row['document']))} p.{row['page']} · {html.escape(str(row['variant']))} · "
                f"{row['dpi']:g} dpi (effective {row['effective_dpi'] or 0:.0f}) · T={row['temperature']}")
        if isinstance(row["error"], str):
            body = f"<p><b>error:</b> {html.escape(row['error'])}</p>"
        else:
            body = (f"<p>CER {row['cer']:.3f} · WER {row['wer']:.3f} · bag-of-words F1 {row['bow_f1']:.3f}</p>"
                    + diff_html(row["reference"], row["text"], frame.attrs.get("profile", "markdown"),
                                row["reference_format"], row["output_format"]))
        sections.append(f'<div class="page"><h3>{head}</h3>{body}</div>')
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                    f"<style>{_CSS}</style></head><body>{''.join(sections)}</body></html>", encoding="utf-8")
    return path
