"""The demo page served at ``/``: a text box, a Predict button and probability bars.

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
</style></head><body>
<h1>fenlei</h1>
<p>Type a text and press Predict. <span id="models-line"></span></p>
<textarea id="text" placeholder="a gorgeous, witty, seductive movie"></textarea><br>
<label>model <select id="model"></select></label>
<span id="token-box" hidden><label> token <input id="token" type="password" size="16"></label></span>
<br><button id="predict">Predict</button>
<div id="error"></div>
<div id="result"></div>
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
async function predict() {
  const out = document.getElementById("result"), err = document.getElementById("error");
  out.textContent = ""; err.textContent = "";
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
