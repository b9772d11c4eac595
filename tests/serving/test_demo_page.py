"""The demo page in a real headless Chromium (Debian packages chromium and chromium-driver).

Marked ``browser``: ``make test`` leaves it out so that a newcomer needs no browser; ``.ci/run``
installs the browser (``make browser``) and runs it.
"""

from __future__ import annotations

import contextlib

import pytest

from explain_fakes import KeywordExplainer
from fenlei.serving.app import create_app

pytestmark = pytest.mark.browser


@contextlib.contextmanager
def _page_of(app):
    """A uvicorn server of ``app`` on a free port and a headless Chromium opened on its ``/``."""
    import shutil
    import socket
    import threading
    import time

    import uvicorn
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_bin = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver_bin, (
        "install the Debian packages chromium and chromium-driver (make browser does)"
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(executable_path=driver_bin), options=options)
    try:
        browser.get(f"http://127.0.0.1:{port}/")
        yield browser
    finally:
        browser.quit()
        server.should_exit = True
        thread.join(timeout=10)


def test_demo_page_in_headless_chromium(predictors):
    """Type a sentence into the demo page, click Predict, read the rendered label (real browser)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    with _page_of(create_app(predictors)) as browser:
        text = "a great and lovely film , really superb"
        assert predictors["sentiment"].predict([text])[0]["label"] == "pos"
        browser.find_element(By.ID, "text").send_keys(text)
        browser.find_element(By.ID, "predict").click()
        label = WebDriverWait(browser, 20).until(ec.presence_of_element_located((By.ID, "top-label")))
        assert label.text == "pos"
        bars = browser.find_elements(By.CSS_SELECTOR, "#result .bar")
        assert [b.find_element(By.CLASS_NAME, "name").text for b in bars][0] == "pos" and len(bars) == 2
        assert browser.find_elements(By.CSS_SELECTOR, "#explained .tok") == []  # toggle off: no call


def test_highlight_tokens_toggle_shows_the_text_coloured():
    """With "highlight tokens" on, the answer's text comes back as written, each token a span
    coloured by its score with the score as its tooltip."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with _page_of(create_app({"kw": KeywordExplainer()})) as browser:
        text = "a great <i>film</i>,  superb\tbut dull"
        # set, not typed: a typed tab would move the focus
        browser.execute_script("document.getElementById('text').value = arguments[0]", text)
        browser.find_element(By.ID, "highlight").click()
        browser.find_element(By.ID, "predict").click()
        wait = WebDriverWait(browser, 20)
        toks = wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#explained .tok"))
        assert [t.text for t in toks] == ["a", "great", "<i>film</i>,", "superb", "but", "dull"]
        titles = [t.get_attribute("title") for t in toks]
        assert titles == ["+0.0000", "+2.0000", "+0.0000", "+2.0000", "+0.0000", "-2.0000"]
        styles = [t.get_attribute("style") for t in toks]
        assert "rgb(26, 152, 80)" in styles[1] and "rgb(215, 48, 39)" in styles[5] and styles[0] == ""
        shown = browser.execute_script(
            "const b = document.querySelector('#explained div'); return b.textContent;"
        )
        assert shown.endswith(text)  # the characters between the tokens are kept, tab included
        assert "why pos" in browser.find_element(By.CSS_SELECTOR, "#explained .meta").text
