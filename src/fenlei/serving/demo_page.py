"""The demo page served at ``/``: a text box, a Predict button and probability bars; with
"highlight tokens" on, the text comes back coloured by ``/explain`` (green for, red against).

Plain HTML and JavaScript in one string, no CDN, so it works on a machine without internet.
"""

from __future__ import annotations

import html
import json

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fenlei demo</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font-family: system-ui, sans-serif; max-width: 760px; margin: 2em auto; padding: 0 1em;
       color: #1d2433; }
textarea { width: 100%; height: 7em; font-size: 1em; padding: 0.5em; box-sizing: border-box; }
button { font-size: 1em; padding: 0.4em 1.4em; margin-top: 0.5em; cursor: pointer; }
select, input { font-size: 1em; padding: 0.2em; }
.bar { display: flex; align-items: center; margin: 0.3em 0; }
.bar .name { width: 11em; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.bar .track { flex: 1; background: #eef1f6; height: 1.2em; margin: 0 0.6em; }
.bar .fill { background: #3b6fd8; height: 100%; }
#result .top { font-size: 1.4em; margin: 0.6em 0; }
#error { color: #b00020; }
#explained { white-space: pre-wrap; line-height: 1.7; margin-top: 0.8em; }
#explained .tok { border-radius: 3px; }
#explained .meta { color: #5c6370; font-size: 0.9em; white-space: normal; }
</style></head><body>
<h1>fenlei</h1>
<p>Type a text and press Predict. <span id="models-line"></span></p>
<textarea id="text" placeholder="a gorgeous, witty, seductive movie"></textarea><br>
<label>model <select id="model"></select></label>
<span id="token-box" hidden><label> token <input id="token" type="password" size="16"></label></span>
<label><input type="checkbox" id="highlight"> highlight tokens</label>
<br><button id="predict">Predict</button>
<div id="error"></div>
<div id="result"></div>
<div id="explained"></div>
<script>
const MODELS = __MODELS__;
const NEEDS_TOKEN = __TOKEN__;
const select = document.getElementById("model");
for (const name of MODELS) {
  const opt = document.createElement("option");
  opt.value = name; opt.textContent = name; select.appendChild(opt);
}
if (NEEDS_TOKEN) document.getElementById("token-box").hidden = false;
function bar(label, p) {
  const row = document.createElement("div"); row.className = "bar";
  const name = document.createElement("span"); name.className = "name"; name.textContent = label;
  const track = document.createElement("span"); track.className = "track";
  const fill = document.createElement("span"); fill.className = "fill"; fill.style.display = "block";
  fill.style.width = (100 * p).toFixed(1) + "%"; track.appendChild(fill);
  const num = document.createElement("span"); num.textContent = p.toFixed(3);
  row.append(name, track, num); return row;
}
// The colours of fenlei.inference.explain_render: white blended toward green (for the label) or
// red (against), by |score| over the text's largest; under 5% of it a token stays plain.
function shade(score, top) {
  const a = top > 0 ? Math.min(Math.abs(score) / top, 1) : 0;
  if (a < 0.05) return "";
  const c = score > 0 ? [26, 152, 80] : [215, 48, 39];
  return "rgb(" + c.map(v => Math.round(255 + (v - 255) * a)).join(",") + ")";
}
function highlighted(e) {
  // The text as written: tokens placed by their character offsets, the rest copied between them.
  const box = document.createElement("div");
  const meta = document.createElement("div"); meta.className = "meta";
  meta.textContent = "why " + e.label + " (p=" + e.probability.toFixed(3) + ", " + e.method + ")";
  box.appendChild(meta);
  const top = Math.max(0, ...e.tokens.map(t => Math.abs(t.score)));
  const placed = e.tokens.filter(t => t.start >= 0 && t.end > t.start && t.end <= e.text.length)
    .sort((a, b) => a.start - b.start);
  const extra = e.tokens.filter(t => !placed.includes(t));
  let cursor = 0;
  const tok = (text, score) => {
    const s = document.createElement("span"); s.className = "tok"; s.textContent = text;
    s.title = (score >= 0 ? "+" : "") + score.toFixed(4); s.style.background = shade(score, top);
    return s;
  };
  for (const t of placed) {
    if (t.start < cursor) { extra.push(t); continue; }
    box.append(e.text.slice(cursor, t.start), tok(e.text.slice(t.start, t.end), t.score));
    cursor = t.end;
  }
  box.append(e.text.slice(cursor));
  for (const t of extra) box.append(" ", tok(t.token, t.score));
  return box;
}
async function explain(model, text, headers) {
  const out = document.getElementById("explained");
  const resp = await fetch("models/" + encodeURIComponent(model) + "/explain", {
    method: "POST", headers, body: JSON.stringify({texts: [text]})});
  const body = await resp.json();
  if (!resp.ok) { out.textContent = "highlight: " + (body.error || ("HTTP " + resp.status)); return; }
  out.appendChild(highlighted(body.explanations[0]));
}
async function predict() {
  const out = document.getElementById("result"), err = document.getElementById("error");
  out.textContent = ""; err.textContent = ""; document.getElementById("explained").textContent = "";
  const text = document.getElementById("text").value;
  if (!text.trim()) { err.textContent = "Type a text first."; return; }
  const headers = {"Content-Type": "application/json"};
  const token = document.getElementById("token").value;
  if (token) headers["Authorization"] = "Bearer " + token;
  const model = select.value;
  try {
    const resp = await fetch("models/" + encodeURIComponent(model) + "/predict", {
      method: "POST", headers, body: JSON.stringify({texts: [text], top_k: 20})});
    const body = await resp.json();
    if (!resp.ok) { err.textContent = body.error || ("HTTP " + resp.status); return; }
    const r = body.results[0];
    const top = document.createElement("div"); top.className = "top"; top.id = "top-label";
    top.textContent = r.label !== undefined ? r.label : r.labels.map(x => x.label).join(", ") || "(no label)";
    out.appendChild(top);
    for (const t of r.top) out.appendChild(bar(t.label, t.probability));
    if (document.getElementById("highlight").checked) await explain(model, text, headers);
  } catch (e) { err.textContent = String(e); }
}
document.getElementById("predict").addEventListener("click", predict);
</script></body></html>
"""


def demo_html(models: list[str], needs_token: bool) -> str:
    """The page, with the served model names and whether a token field is shown."""
    # json.dumps escapes quotes; "</" is escaped too so a name cannot close the script tag.
    names = json.dumps([html.unescape(m) for m in models]).replace("</", "<\\/")
    return _PAGE.replace("__MODELS__", names).replace("__TOKEN__", "true" if needs_token else "false")
