"""Explanations shown to a person: in the terminal (rich) and as HTML (a page or a fragment).

Pure formatting of ``Explanation`` objects (no torch), shared by ``fenlei explain``, the run
report and anything embedding the HTML. The original text is kept as written: the characters
between tokens come from ``text`` itself, tokens are placed by their ``start``/``end`` offsets,
and tokens that could not be placed (start -1) are shown after the text.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from fenlei.inference.explanation import Explanation, TokenScore

# Colours at full strength: toward the explained label, against it. Weaker scores fade to white.
TOWARD = (26, 152, 80)
AGAINST = (215, 48, 39)
# Below this share of the text's largest |score| a token is left plain: a wash of near-white
# backgrounds reads as noise, not as "this token mattered a little".
FAINT = 0.05


@dataclass
class Piece:
    """A run of the text: a token with its score, or the characters between tokens (score None)."""

    text: str
    score: float | None = None
    placed: bool = True  # False: a token without offsets, shown after the text


def pieces(exp: Explanation) -> list[Piece]:
    """The text cut into tokens and the characters between them, in reading order; unplaced
    tokens (and any whose span overlaps an earlier token's) come last."""
    text = exp.text
    placed = sorted((t for t in exp.tokens if _placeable(t, len(text))), key=lambda t: (t.start, t.end))
    out: list[Piece] = []
    cursor = 0
    extra: list[TokenScore] = [t for t in exp.tokens if not _placeable(t, len(text))]
    for tok in placed:
        if tok.start < cursor:  # overlaps the previous token: cannot be highlighted in place
            extra.append(tok)
            continue
        if tok.start > cursor:
            out.append(Piece(text[cursor : tok.start]))
        out.append(Piece(text[tok.start : tok.end], tok.score))
        cursor = tok.end
    if cursor < len(text):
        out.append(Piece(text[cursor:]))
    out.extend(Piece(t.token, t.score, placed=False) for t in extra)
    return out


def _placeable(tok: TokenScore, length: int) -> bool:
    return 0 <= tok.start < tok.end <= length


def scale(exp: Explanation) -> float:
    """The largest |score| of the text: colours are normalised per text (0 when all are 0)."""
    return max((abs(t.score) for t in exp.tokens), default=0.0)


def strength(score: float, top: float) -> float:
    """|score| as a share of the text's largest, 0..1; 0 under ``FAINT``."""
    share = abs(score) / top if top > 0 else 0.0
    return 0.0 if share < FAINT else min(share, 1.0)


def rgb(score: float, top: float) -> tuple[int, int, int]:
    """The background of a token: white blended toward green (for) or red (against)."""
    base = TOWARD if score > 0 else AGAINST
    a = strength(score, top)
    return tuple(round(255 + (c - 255) * a) for c in base)  # type: ignore[return-value]


# ---------------------------------------------------------------- terminal


def terminal(exp: Explanation, top: int = 5):
    """A rich renderable: the label line, the highlighted text, the top tokens for and against."""
    from rich.console import Group
    from rich.text import Text

    head = Text.assemble(
        ("label ", "dim"),
        (exp.label, "bold"),
        f"  p={exp.probability:.3f}",
        ("" if exp.label == exp.predicted else f"  (predicted {exp.predicted})", "dim"),
        (f"  {exp.method}", "dim"),
        ("  text cut at max_length" if exp.truncated else "", "yellow"),
    )
    body = Text()
    m = scale(exp)
    unplaced = False
    for p in pieces(exp):
        if not p.placed:
            body.append("  [" if not unplaced else " ")
            unplaced = True
        if p.score is None or strength(p.score, m) == 0:
            body.append(p.text)
        else:
            r, g, b = rgb(p.score, m)
            body.append(p.text, style=f"black on rgb({r},{g},{b})")
    if unplaced:
        body.append("]")
    lines = [head, body]
    for positive, name, colour in ((True, "for", "green"), (False, "against", "red")):
        best = exp.top(top, positive=positive)
        if best:
            cells = "  ".join(f"{t.token} {t.score:+.3f}" for t in best)
            lines.append(Text.assemble((f"  {name:<8}", colour), cells))
    return Group(*lines)


def print_terminal(explanations: Sequence[Explanation], top: int = 5, file=None) -> None:
    """Print each explanation (a blank line between), coloured when the output is a terminal."""
    from rich.console import Console

    console = Console(file=file, highlight=False, soft_wrap=True)
    for i, exp in enumerate(explanations):
        if i:
            console.print()
        console.print(terminal(exp, top))


# ---------------------------------------------------------------- HTML

STYLE = """
.fenlei-explain { font-family: system-ui, sans-serif; color: #1d2433; }
.fenlei-explain .item { margin: 0.8em 0 1.2em; }
.fenlei-explain .head { margin-bottom: 0.3em; }
.fenlei-explain .head .label { font-weight: bold; }
.fenlei-explain .head .meta { color: #5c6370; font-size: 0.9em; }
.fenlei-explain .text { white-space: pre-wrap; line-height: 1.7; border: 1px solid #d8dee9;
  padding: 0.4em 0.6em; border-radius: 4px; }
.fenlei-explain .tok { border-radius: 3px; padding: 0.05em 0; }
.fenlei-explain .unplaced { color: #5c6370; margin-left: 0.4em; }
.fenlei-explain .tops { font-size: 0.9em; margin-top: 0.3em; }
.fenlei-explain .tops .for { color: #1a7f43; } .fenlei-explain .tops .against { color: #b2251d; }
"""


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _token_html(p: Piece, top: float) -> str:
    score = p.score if p.score is not None else 0.0
    r, g, b = rgb(score, top)
    style = f' style="background: rgb({r},{g},{b})"' if strength(score, top) else ""
    return f'<span class="tok"{style} title="{score:+.4f}" data-score="{score:.6g}">{_esc(p.text)}</span>'


def item_html(exp: Explanation, top: int = 5, caption: str = "") -> str:
    """One explanation as an HTML block: label, probability and method (and ``caption``), the
    highlighted text (a tooltip with each token's score), the top tokens for and against."""
    m = scale(exp)
    text, after = [], []
    for p in pieces(exp):
        if p.score is None:
            text.append(_esc(p.text))
        else:
            (text if p.placed else after).append(_token_html(p, m))
    if after:
        text.append(
            f'<span class="unplaced" title="tokens without a place in the text">[{" ".join(after)}]</span>'
        )
    notes = [caption] if caption else []
    notes += [f"p={exp.probability:.3f}", exp.method]
    if exp.label != exp.predicted:
        notes.append(f"predicted {exp.predicted}")
    if exp.truncated:
        notes.append("text cut at max_length")
    tops = []
    for positive, name in ((True, "for"), (False, "against")):
        best = exp.top(top, positive=positive)
        if best:
            cells = ", ".join(f"{_esc(t.token)} {t.score:+.3f}" for t in best)
            tops.append(f'<div class="{name}">{name}: {cells}</div>')
    return (
        '<div class="item">'
        f'<div class="head"><span class="label">{_esc(exp.label)}</span> '
        f'<span class="meta">{_esc(" · ".join(notes))}</span></div>'
        f'<div class="text">{"".join(text)}</div>'
        f'<div class="tops">{"".join(tops)}</div></div>'
    )


def html_fragment(
    explanations: Sequence[Explanation], top: int = 5, captions: Sequence[str] | None = None
) -> str:
    """The explanations as one ``<div class="fenlei-explain">`` with its own scoped style, for
    embedding in another page (the run report); ``captions``: a note per explanation."""
    captions = captions or [""] * len(explanations)
    items = "".join(item_html(e, top, c) for e, c in zip(explanations, captions, strict=True))
    return f'<div class="fenlei-explain"><style>{STYLE}</style>{items}</div>'


def html_page(explanations: Sequence[Explanation], title: str = "fenlei explain", top: int = 5) -> str:
    """A whole self-contained HTML document (no scripts, no network)."""
    legend = (
        '<p class="meta">Background: <span style="background: rgb(26,152,80); color: white">'
        'toward the label</span> / <span style="background: rgb(215,48,39); color: white">against it'
        "</span>, stronger for larger |score| (normalised per text); hover a token for its score.</p>"
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_esc(title)}</title>"
        "<style>body { max-width: 900px; margin: 2em auto; padding: 0 1em; } .meta { color: #5c6370; }"
        f"</style></head><body><h1>{_esc(title)}</h1>{legend}{html_fragment(explanations, top)}"
        "</body></html>\n"
    )
