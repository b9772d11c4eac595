"""The demo page in a real headless Chromium (Debian packages chromium and chromium-driver).

Marked ``browser``: ``make test`` leaves it out so that a newcomer needs no browser; ``.ci/run``
installs the browser (``make browser``) and runs it.
"""

from __future__ import annotations

import pytest

from fenlei.serving.app import create_app

pytestmark = pytest.mark.browser


def test_demo_page_in_headless_chromium(predictors):
    """Type a sentence into the demo page, click Predict, read the rendered label (real browser)."""
    import shutil
    import socket
    import threading
    import time

    import uvicorn
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    chromium, driver_bin = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver_bin, (
        "install the Debian packages chromium and chromium-driver (make browser does)"
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(predictors), host="127.0.0.1", port=port, log_level="warning")
    )
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
        text = "a great and lovely film , really superb"
        assert predictors["sentiment"].predict([text])[0]["label"] == "pos"
        browser.find_element(By.ID, "text").send_keys(text)
        browser.find_element(By.ID, "predict").click()
        label = WebDriverWait(browser, 20).until(ec.presence_of_element_located((By.ID, "top-label")))
        assert label.text == "pos"
        bars = browser.find_elements(By.CSS_SELECTOR, "#result .bar")
        assert [b.find_element(By.CLASS_NAME, "name").text for b in bars][0] == "pos" and len(bars) == 2
    finally:
        browser.quit()
        server.should_exit = True
        thread.join(timeout=10)
