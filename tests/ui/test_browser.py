"""The release page in a real headless browser: Debian's chromium driven by selenium through
Debian's chromedriver, against ``lockgate ui``'s server on loopback over a real ledger.

Screenshots are checked, not just taken: each environment card and each step chart is
photographed on its own and must hold the colours the page gives them."""

from __future__ import annotations

import functools
import io
import os
import shutil
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lockgate.delivery.ledger.audit import audit_ledger
from lockgate.delivery.rollout.state import RolloutState, StateStore
from lockgate.delivery.rollout.targets.base import Version
from lockgate.ui.server import ReleasePage, serve
from tests.ui.ledgerkit import condition, write_ledger, write_rollout

DRIVER = "/usr/bin/chromedriver"
PASS_GREEN = (0x2E, 0x7D, 0x32)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    ledger = write_ledger(tmp_path / "ledger")
    write_rollout(tmp_path / "state")
    StateStore(tmp_path / "state").save(
        RolloutState(
            "staging",
            "paused",
            stable=Version(1, "reg/model:1"),
            canary=Version(2, "reg/model:2"),
            weight=10,
            reason="step 1 (10%) inconclusive: Prometheus: error_rate: unreachable",
            measurements=(
                {
                    "step": 0,
                    "weight": 10,
                    "outcome": "inconclusive",
                    "conditions": [condition("error_rate < 0.01", None, "inconclusive")],
                },
            ),
        )
    )
    page = ReleasePage(ledger.folder, tmp_path / "state", lambda: audit_ledger(ledger.folder))
    server = serve(page, "127.0.0.1", 0)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def browser() -> Iterator[Any]:
    if not (os.path.exists(DRIVER) and shutil.which("chromium")):
        if os.environ.get("LOCKGATE_REQUIRE_ENGINE") == "1":
            pytest.fail("chromium / chromium-driver missing (scripts/setup-test-env installs them)")
        pytest.skip(reason="chromium / chromium-driver not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1800"):
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium") or ""
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    yield driver
    driver.quit()


def _colours(png: bytes) -> set[tuple[int, int, int]]:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        found = image.convert("RGB").getcolors(maxcolors=1 << 24) or []
    return {tuple(colour) for _, colour in found}


def read_again_when_the_page_reloads(test: Callable[..., None]) -> Callable[..., None]:
    """The live page reloads itself every 5 s; on a loaded machine a reload can land between
    finding an element and reading it, so the reading starts over on a fresh load (3 tries)."""

    @functools.wraps(test)
    def reading(*args: Any, **kwargs: Any) -> None:
        from selenium.common.exceptions import StaleElementReferenceException

        for attempt in range(3):
            try:
                return test(*args, **kwargs)
            except StaleElementReferenceException:
                if attempt == 2:
                    raise

    return reading


@read_again_when_the_page_reloads
def test_page_shows_each_environment_and_a_chart_per_step(
    site: str, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    browser.get(site + "/")
    assert browser.title == "lockgate releases"
    browser.save_screenshot(str(tmp_path / "page.png"))
    cards = browser.find_elements(By.CSS_SELECTOR, ".env[data-env]")
    assert [c.get_attribute("data-env") for c in cards] == ["staging", "production"]
    for card in cards:
        shot = card.screenshot_as_png
        assert len(_colours(shot)) > 4, "an environment card rendered blank"
        assert "models:/churn/1" in card.text and "approved by" in card.text
    assert "omar" in cards[1].text
    charts = browser.find_elements(By.CSS_SELECTOR, ".rollout[data-env=production] svg.step-chart")
    assert [c.get_attribute("data-step") for c in charts] == ["0", "1"]
    for chart in charts:
        assert chart.size["width"] > 300 and chart.size["height"] > 60
        assert PASS_GREEN in _colours(chart.screenshot_as_png), "no passing bar drawn"
    assert "2 window(s)" in charts[1].text  # the extended step shows both windows
    # an inconclusive step (here: Prometheus unreachable) is drawn as such, never as a pass
    waiting = browser.find_element(By.CSS_SELECTOR, ".rollout[data-env=staging]")
    assert "unreachable" in waiting.text and "no value" in waiting.text
    (chart,) = waiting.find_elements(By.CSS_SELECTOR, "svg.step-chart")
    assert PASS_GREEN not in _colours(chart.screenshot_as_png)
    pending = browser.find_element(By.CSS_SELECTOR, "li[data-env=production]")
    assert "approvals so far: lena" in pending.text
    assert "intact: 8 entries" in browser.find_element(By.TAG_NAME, "body").text


def test_time_travel_and_lineage(site: str, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    browser.get(site + "/?at=2026-11-20T09:04:30Z")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "ledger up to entry 5" in body
    assert not browser.find_elements(By.CSS_SELECTOR, "svg.step-chart")  # live state only now
    browser.get(site + "/")
    browser.find_element(By.CSS_SELECTOR, ".env[data-env=staging] a").click()
    kinds = [n.get_attribute("data-kind") for n in browser.find_elements(By.CSS_SELECTOR, "g.node")]
    assert kinds[:2] == ["model", "image"] and kinds.count("promote") == 2
    assert "approve" in kinds


def test_read_only_and_bad_time(site: str) -> None:
    request = urllib.request.Request(site + "/", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    refused.value.close()
    assert refused.value.code == 405
    with pytest.raises(urllib.error.HTTPError) as bad:
        urllib.request.urlopen(site + "/?at=yesterday", timeout=5)
    with bad.value as answer:
        assert answer.code == 400 and b"expected a time like" in answer.read()
