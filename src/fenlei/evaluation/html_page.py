"""Small helpers for fenlei's self-contained HTML pages (run report, comparison)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from matplotlib.figure import Figure

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1180px;
       padding: 1.5em; color: #1d2433; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #d8dee9; padding-bottom: 0.2em; margin-top: 2em; }
nav a { margin-right: 1em; font-size: 0.95em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #d8dee9; padding: 0.3em 0.6em; text-align: right; vertical-align: top; }
th { background: #eef1f6; } td.text, th.text { text-align: left; max-width: 640px; }
td.failed { color: #b00020; text-align: left; }
img { max-width: 100%; height: auto; border: 1px solid #eef1f6; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
.note { color: #5c6370; font-style: italic; } .meta { color: #5c6370; }
"""


def esc(value: object) -> str:
    """HTML-escaped text of any value."""
    return html.escape(str(value), quote=True)


def figure_png(fig: Figure, path: Path | None = None, dpi: int = 100) -> bytes:
    """PNG bytes of a figure; also written to ``path`` when given."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    data = buf.getvalue()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return data


def img(png: bytes, alt: str) -> str:
    """An <img> with the PNG embedded as a data URI, so the page opens offline and alone."""
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def table(header: list[str], rows: list[list[object]], text_cols: tuple[int, ...] = ()) -> str:
    """A plain HTML table; columns in ``text_cols`` are left-aligned text."""

    def cell(tag: str, i: int, value: object) -> str:
        cls = ' class="text"' if i in text_cols else ""
        return f"<{tag}{cls}>{esc(value)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, subtitle: str, sections: list[tuple[str, str, str]]) -> str:
    """A whole HTML document: a title, a table of contents and (id, heading, body html) sections."""
    nav = "".join(f'<a href="#{sid}">{esc(head)}</a>' for sid, head, _ in sections)
    body = "".join(
        f'<section id="{sid}"><h2>{esc(head)}</h2>{content}</section>' for sid, head, content in sections
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
        f'<h1>{esc(title)}</h1><p class="meta">{esc(subtitle)}</p><nav>{nav}</nav>{body}</body></html>\n'
    )


def fmt(value: object, spec: str = ".4f") -> str:
    """A number formatted with ``spec``; '-' for a missing value."""
    if value is None:
        return "-"
    try:
        return format(value, spec)
    except (TypeError, ValueError):
        return str(value)
