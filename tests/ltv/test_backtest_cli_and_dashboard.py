"""`touchpoint backtest` on a demo shop, then the dashboard's back-test panel in headless
Chromium against a real server: it draws the numbers the API returns."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.webhooks.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env=env,
        check=False,
        capture_output=True,
        text=True,
    )


def test_cli_backtest_and_the_dashboard_panel(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TOUCHPOINT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
        "TOUCHPOINT_LOG_LEVEL": "WARNING",
    }
    demo = _cli(env, "demo", "--customers", "300")
    assert demo.returncode == 0, demo.stderr
    key = demo.stdout.strip().splitlines()[-1]
    end = datetime.now(UTC).replace(microsecond=0)
    calibration_end = (end - timedelta(days=180)).isoformat()
    bad = _cli(
        env, "backtest", "--calibration-end", end.isoformat(), "--holdout-end", end.isoformat()
    )
    assert bad.returncode == 2 and "holdout_end must be after calibration_end" in bad.stderr
    out = _cli(env, "backtest", "--calibration-end", calibration_end)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("back-test 1: calibration to ")
    for name in ("bgnbd", "mbgnbd", "paretonbd", "heuristic"):
        assert f"  {name} " in out.stdout
    assert "chosen: " in out.stdout

    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            raise RuntimeError("chromium is missing; .ci/run installs it")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--no-worker", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"})
        latest = api.get("/v1/models/backtests", params={"limit": 1}).json()["items"][0]
        shown = next(m for m in latest["models"] if m["model"] == latest["chosen_model"])
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": 1400, "height": 2000})
            page.goto(base + "/dashboard")
            page.fill("#key", key)
            page.click("#load")
            page.wait_for_function(
                "document.getElementById('backtest-summary').textContent.startsWith('Back-test')",
                timeout=30_000,
            )
            for row in shown["by_frequency"]:
                for kind in ("predicted", "actual"):
                    value = row[f"{kind}_mean"]
                    text = page.text_content(f"[data-testid='bt-{kind}-{row['repeat_purchases']}']")
                    assert text == ("–" if value is None else f"{value:.2f}")
            summary = page.text_content("#backtest-summary") or ""
            assert f"shown: {latest['chosen_model']}" in summary
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
