"""Terminal and HTML rendering of explanations: text kept as written, colours by score, escaping."""

from __future__ import annotations

import io
from html.parser import HTMLParser

from fenlei.inference.explain_render import html_fragment, html_page, pieces, print_terminal, rgb
from fenlei.inference.explanation import Explanation, TokenScore


def _exp(text="a <b>great</b>  film,\nreally", tokens=None, **kw) -> Explanation:
    tokens = tokens or [
        TokenScore("a", 0, 1, 0.01),
        TokenScore("<b>great</b>", 2, 14, 0.9),
        TokenScore("film", 16, 20, -0.3),
        TokenScore("really", 22, 28, 0.0),
        TokenScore("##x", -1, -1, 0.2),
    ]
    return Explanation(text, kw.pop("label", "pos"), 0.87, kw.pop("predicted", "pos"), tokens, **kw)


def test_pieces_keep_the_text_as_written_and_put_unplaced_tokens_last():
    exp = _exp()
    ps = pieces(exp)
    assert "".join(p.text for p in ps if p.placed) == exp.text
    assert [p.text for p in ps if p.score is not None] == ["a", "<b>great</b>", "film", "really", "##x"]
    assert ps[-1].placed is False
    # an overlapping token cannot be coloured in place: shown with the unplaced ones
    exp.tokens.append(TokenScore("gre", 5, 8, 0.1))
    assert [p.text for p in pieces(exp) if not p.placed] == ["##x", "gre"]


def test_colours_toward_and_against_normalised_per_text():
    assert rgb(1.0, 1.0) == (26, 152, 80) and rgb(-2.0, 2.0) == (215, 48, 39)
    assert rgb(0.01, 1.0) == (255, 255, 255)  # faint: left plain
    assert rgb(5.0, 10.0) == rgb(0.5, 1.0)


class _Spans(HTMLParser):
    def __init__(self):
        super().__init__()
        self.toks, self.text, self._in = [], [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        assert tag not in ("script", "b"), "user text must be escaped"
        if tag == "span" and a.get("class") == "tok":
            self._in = a
            self.toks.append([a, ""])

    def handle_endtag(self, tag):
        if tag == "span":
            self._in = None

    def handle_data(self, data):
        if self._in is not None:
            self.toks[-1][1] += data


def test_html_escapes_text_and_gives_each_token_a_tooltip_and_colour():
    exp = _exp(label="<script>x</script>")
    page = html_page([exp], title="t & <t>")
    assert page.startswith("<!doctype html>") and "<script>" not in page and "&lt;script&gt;" in page
    p = _Spans()
    p.feed(html_fragment([exp]))
    texts = [t for _, t in p.toks]
    assert texts == ["a", "<b>great</b>", "film", "really", "##x"]
    attrs = {t: a for a, t in p.toks}
    assert attrs["<b>great</b>"]["title"] == "+0.9000" and "rgb(26,152,80)" in attrs["<b>great</b>"]["style"]
    assert "style" not in attrs["a"] and attrs["film"]["title"] == "-0.3000"
    frag = html_fragment([exp])
    assert "  film,\nreally" not in frag  # tokens are spans ...
    assert "</span>  <span" in frag and ",\n<span" in frag  # ... the characters between stay as written
    assert "for: &lt;b&gt;great&lt;/b&gt; +0.900" in frag and "against: film -0.300" in frag


def test_terminal_shows_label_probability_and_top_tokens():
    buf = io.StringIO()
    exps = [_exp(), _exp(label="neg", predicted="pos", truncated=True)]
    print_terminal(exps, top=2, file=buf)
    out = buf.getvalue()
    assert "label pos  p=0.870" in out and "(predicted pos)" in out and "cut at max_length" in out
    assert "a <b>great</b>  film," in out and "[##x]" in out
    assert "  for     <b>great</b> +0.900  ##x +0.200\n  against film -0.300" in out
