"""The dashboard in headless Chromium against a real server on a demo database: every panel
shows the numbers the API returns."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import wait_ready
from tests.webhooks.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
# The screenshot after `touchpoint demo`, kept for people to look at (var/ is not committed).
SCREENSHOT = ROOT / "var" / "screenshots" / "dashboard.png"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            raise RuntimeError("chromium is missing; .ci/run installs it")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    db = tmp_path_factory.mktemp("dash") / "demo.db"
    env = {
        **os.environ,
        "TOUCHPOINT_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "TOUCHPOINT_LOG_LEVEL": "WARNING",
    }
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "demo", "--customers", "150"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    key = out.stdout.strip().splitlines()[-1]
    # A key that reads customers but not touches: its touch panel must say so in place.
    narrow = (
        subprocess.run(
            [
                sys.executable,
                "-m",
                "app.cli",
                "keys",
                "create",
                "--name",
                "narrow",
                "--scopes",
                "customers:read",
            ],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--no-worker", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    wait_ready(proc, base)  # raises if the server exits or never answers
    yield base, key, narrow
    proc.terminate()
    proc.wait(timeout=30)


def digits(text: str | None) -> str:
    return re.sub(r"\D", "", text or "")


def whole(amount: str) -> str:
    """A money string rounded as the browser's Intl.NumberFormat does (half away from 0)."""
    return str(Decimal(amount).quantize(Decimal(1), ROUND_HALF_UP))


def open_dashboard(browser: Any, base: str, key: str) -> Any:
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.goto(base + "/dashboard")
    page.fill("#key", key)
    page.click("#load")
    page.wait_for_function(
        "document.getElementById('status').textContent === 'up to date'", timeout=30_000
    )
    return page


def test_every_panel_shows_what_the_api_returns(demo_server: tuple[str, str, str]) -> None:
    from playwright.sync_api import sync_playwright

    base, key, narrow = demo_server
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"})
    pyramid = api.get("/v1/analytics/pyramid").json()
    lapsed = api.get("/v1/customers/lapsed", params={"limit": 10}).json()["items"]
    histogram = api.get("/v1/analytics/ltv-histogram", params={"buckets": 10}).json()["buckets"]
    cohorts = api.get("/v1/analytics/cohorts", params={"months": 12}).json()["cohorts"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = open_dashboard(browser, base, key)
        for level in pyramid["levels"]:
            people = page.text_content(f"[data-testid='bar-{level['stage']}']")
            assert people == str(level["customers"]), level["stage"]
            # Money with the currency sign, and the average per customer of the stage.
            money = page.text_content(f"[data-testid='money-{level['stage']}']") or ""
            assert digits(money) == whole(level["revenue"]) and "₽" in money
            if level["customers"]:
                avg = page.text_content(f"[data-testid='avg-{level['stage']}']")
                assert digits(avg) == whole(level["average_revenue"])
        # Stage labels in the shop's locale (ru by default).
        assert page.text_content("[data-testid='label-hot_lead']") == "горячий интерес"
        assert page.text_content("[data-testid='label-advocate']") == "адвокат"
        assert f"{pyramid['customers']} клиентов" in (page.text_content("#pyramid-summary") or "")
        rows = page.locator("#lapsed-rows tr[data-testid='row']")
        assert rows.count() == len(lapsed) > 0
        for i, item in enumerate(lapsed):
            cells = rows.nth(i).locator("td").all_text_contents()
            assert cells[0] == item["customer_id"]
            assert digits(cells[4]) == whole(item["value_at_risk"])
            p_alive = item["p_alive"]
            assert cells[5] == ("—" if p_alive is None else f"{round(p_alive * 100)}%")
        shown = [
            int(t) for t in page.locator("#ltv-chart [data-testid^='bar-']").all_text_contents()
        ]
        assert shown == [b["customers"] for b in histogram]
        cohort_rows = page.locator("#cohort-table tr[data-testid='cohort']")
        assert cohort_rows.count() == len(cohorts)
        for i, c in enumerate(cohorts):
            cells = cohort_rows.nth(i).locator("td").all_text_contents()
            assert cells[:2] == [c["month"], str(c["buyers"])]
            assert cells[2:] == [f"{round(s * 100)}%" for s in c["retention"]]
            # The month still running is marked and has no colour; earlier months do.
            last = cohort_rows.nth(i).locator("td").last
            assert "partial" in (last.get_attribute("class") or "")
            assert not last.evaluate("td => td.style.background")
        assert page.locator("#touch-rows tr").count() >= 1
        # Touch times in the shop's time zone, the zone named in the header.
        assert "Europe/Moscow" in (page.text_content("#touches thead") or "")
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)

        # A key without touches:read: that panel says so in place; the others still load.
        limited = open_dashboard(browser, base, narrow)
        assert "touches:read" in (limited.text_content("#touch-rows") or "")
        assert limited.locator("#lapsed-rows tr[data-testid='row']").count() == len(lapsed)
        browser.close()
    assert SCREENSHOT.stat().st_size > 10_000
