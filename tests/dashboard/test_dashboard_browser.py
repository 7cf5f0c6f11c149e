"""The dashboard in headless Chromium against a real server on a demo database: every panel
shows the numbers the API returns."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.processes import wait_ready
from tests.webhooks.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
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
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
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
    yield base, key
    proc.terminate()
    proc.wait(timeout=30)


def test_every_panel_shows_what_the_api_returns(
    demo_server: tuple[str, str], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    base, key = demo_server
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"})
    pyramid = api.get("/v1/analytics/pyramid").json()
    lapsed = api.get("/v1/customers/lapsed", params={"limit": 10}).json()["items"]
    histogram = api.get("/v1/analytics/ltv-histogram", params={"buckets": 10}).json()["buckets"]
    cohorts = api.get("/v1/analytics/cohorts", params={"months": 12}).json()["cohorts"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(base + "/dashboard")
        page.fill("#key", key)
        page.click("#load")
        page.wait_for_function(
            "document.getElementById('status').textContent === 'up to date'", timeout=30_000
        )
        for level in pyramid["levels"]:
            people = page.text_content(f"[data-testid='bar-{level['stage']}']")
            assert people == str(level["customers"]), level["stage"]
            money = page.text_content(f"[data-testid='money-{level['stage']}']")
            assert money == f"{round(float(level['revenue'])):,}", level["stage"]
        assert f"{pyramid['customers']} customers" in page.text_content("#pyramid-summary")
        rows = page.locator("#lapsed-rows tr[data-testid='row']")
        assert rows.count() == len(lapsed) > 0
        for i, item in enumerate(lapsed):
            cells = rows.nth(i).locator("td").all_text_contents()
            assert cells[0] == item["customer_id"] and cells[4] == item["value_at_risk"]
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
        assert page.locator("#touch-rows tr").count() >= 1
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        browser.close()
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
