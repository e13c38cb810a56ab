"""GET /api/health/dashboard: the admin status page. Public HTML and assets that hold
no data and load nothing from elsewhere, under a strict CSP; and, in a real headless
Chromium, an admin signs in through its form and watches figures move."""
from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

from cdp import Chromium
from live import ROOT, require_tool, served
from status_page import PAGE, open_sign_in, sign_in

STATIC = ROOT / "service" / "api" / "admin" / "static"
ASSETS = {PAGE: "text/html", f"{PAGE}/app.js": "text/javascript", f"{PAGE}/app.css": "text/css"}
SCREENSHOT = ROOT / "docs" / "status-page.png"


async def test_page_and_assets_are_public_identical_for_everyone_and_revalidated(api):
    admin = await api.user(admin=True)
    for path, content_type in ASSETS.items():
        anonymous, _ = await api.call("GET", path, expect=200)
        body = await anonymous.read()
        as_admin, _ = await api.call("GET", path, admin, expect=200)
        assert await as_admin.read() == body, f"{path} must not depend on who asks: it holds no data"
        assert anonymous.content_type == content_type
        assert anonymous.headers["X-Content-Type-Options"] == "nosniff"
        assert anonymous.headers["Cache-Control"] == "no-cache"
        await api.call("GET", path, headers={"If-None-Match": anonymous.headers["ETag"]}, expect=304)


async def test_page_carries_a_strict_content_security_policy(api):
    resp, _ = await api.call("GET", PAGE, expect=200)
    policy = {directive.split()[0]: directive.split()[1:] for directive in
              resp.headers["Content-Security-Policy"].split(";") if directive.strip()}
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"] and policy["frame-ancestors"] == ["'none'"]
    assert not any("unsafe" in source for sources in policy.values() for source in sources)
    assert resp.headers["Referrer-Policy"] == "no-referrer"


def test_page_loads_only_its_own_assets_and_needs_nothing_the_policy_forbids():
    html = (STATIC / "dashboard.html").read_text()
    script = (STATIC / "dashboard.js").read_text()
    style = (STATIC / "dashboard.css").read_text()
    for name, text in (("html", html), ("js", script), ("css", style)):
        assert not re.search(r"(?:https?:)?//[\w-]+(\.[\w-]+)+", text), f"{name} names another origin"
        assert "@import" not in text and "url(" not in text, name
    # the policy forbids inline code: every script is a file, no style or on* attributes, no <style>
    assert re.findall(r"<script\b[^>]*>", html) == ['<script src="dashboard/app.js" defer>']
    assert not re.search(r"<script[^>]*>\s*[^<\s]", html)
    assert not re.search(r"\sstyle=|\son[a-z]+=|<style", html)
    assert re.findall(r'<link rel="stylesheet" href="([^"]+)"', html) == ["dashboard/app.css"]
    # and no way for data to become markup
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "eval(" not in script
    # every element the script addresses exists in the page
    wanted = set(re.findall(r'\$\("([\w-]+)"\)', script))
    present = set(re.findall(r'\bid="([\w-]+)"', html))
    assert wanted and wanted <= present, wanted - present


def test_admin_signs_in_in_headless_chromium_and_sees_figures_move(database_url, tmp_path):
    binary = require_tool("chromium", "chromium-browser", package="chromium")
    with served(database_url, tmp_path, SLOW_QUERY_THRESHOLD_MS="0") as service:
        email, password, _ = service.user(admin=True, database_url=database_url)
        _, _, token = service.user()
        asyncio.run(_drive(binary, service, email, password, token, tmp_path))


async def _drive(binary: str, service, email: str, password: str, token: str, tmp_path: Path) -> None:
    async with Chromium(binary, tmp_path) as page:
        await open_sign_in(page, service.base)
        assert await page.evaluate("document.getElementById('status').hidden") is True

        await sign_in(page, email, password)
        figures = "document.getElementById('total-queries').textContent"
        await page.wait_for(f"/^[0-9,]+$/.test({figures}) && document.getElementById('cache-short')",
                            "the first figures after signing in")
        assert await page.evaluate("document.getElementById('overall').textContent") == "healthy"
        assert await page.evaluate("sessionStorage.length === 1 && localStorage.length === 0 && "
                                   "document.cookie === ''")
        before = await _figures(page)

        # Someone uses the API: a client, then the same list twice (the second read is a cache hit).
        status, client = service.call("POST", "/api/clients", token, {"name": "Status page"})
        assert status == 201, client
        # Read until the page shows a hit: a read whose load overlapped the POST's own
        # invalidation (its NOTIFY comes back on the listener) is not stored, so the second
        # read of a fixed pair was sometimes a miss too (one CI run).
        medium_hits = (f"Number(document.querySelector('#cache-medium td:nth-child(3)').textContent"
                       f".replace(/,/g, '')) > {before['medium_hits']}")
        deadline = time.monotonic() + 20
        while True:
            assert service.call("GET", "/api/clients?page_size=5", token)[0] == 200
            if await page.evaluate(medium_hits):
                break
            assert time.monotonic() < deadline, "timed out after 20 s waiting for the medium tier's hits to increase"
            await asyncio.sleep(0.5)
        await page.wait_for(f"Number({figures}.replace(/,/g, '')) > {before['queries']}",
                            "total queries to increase")
        await page.wait_for("document.querySelectorAll('#slow-list tr td').length > 1", "slow queries listed")
        # charts: two or more polls drawn in the first series' blue (antialiased: same hue, partial alpha)
        for chart in ("chart-pool", "chart-queries", "chart-cache"):
            await page.wait_for(f"""(() => {{
                const c = document.getElementById('{chart}');
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let drawn = 0;
                for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && d[i + 2] - d[i] > 100) drawn++;
                return drawn > 20;
            }})()""", f"{chart} to draw a line")

        if os.environ.get("SAVE_STATUS_PAGE_SCREENSHOT"):
            # for the README: half a minute of mixed traffic, so that the charts have a history
            await _traffic(service, token, client["id"], seconds=30)
        png = await page.screenshot()
        assert png.startswith(b"\x89PNG")
        (tmp_path / "status-page.png").write_bytes(png)
        if os.environ.get("SAVE_STATUS_PAGE_SCREENSHOT"):
            SCREENSHOT.write_bytes(png)

        # Nothing came from anywhere else, and the page ran without a single error (a CSP
        # violation would be one).
        urls = {event["params"]["request"]["url"] for event in page.events
                if event["method"] == "Network.requestWillBeSent"}
        origin = urlsplit(service.base)
        foreign = {url for url in urls if urlsplit(url)[:2] != origin[:2] and not url.startswith("about:")}
        assert not foreign, foreign
        errors = [event["params"] for event in page.events
                  if event["method"] == "Runtime.exceptionThrown"
                  or (event["method"] == "Log.entryAdded" and event["params"]["entry"]["level"] == "error"
                      and not event["params"]["entry"].get("url", "").endswith("/favicon.ico"))
                  or (event["method"] == "Runtime.consoleAPICalled" and event["params"]["type"] == "error")]
        assert not errors, errors

        # Signing out revokes the token and forgets it.
        await page.evaluate("document.getElementById('logout').click()")
        await page.wait_for("!document.getElementById('login-panel').hidden && sessionStorage.length === 0",
                            "the sign-in form after signing out")


async def _traffic(service, token: str, client_id: str, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    round_ = 0
    while loop.time() < end:
        round_ += 1
        paths = ["/api/clients?page_size=5", f"/api/clients/{client_id}", "/api/projects", "/api/posts"]
        for path in paths[: 1 + round_ % len(paths)]:
            await asyncio.to_thread(service.call, "GET", path, token)
        if round_ % 5 == 0:
            await asyncio.to_thread(service.call, "POST", "/api/clients", token, {"name": f"c{round_}"})
        await asyncio.sleep(0.05 * (1 + round_ % 7))


async def _figures(page) -> dict[str, int]:
    return {"queries": int((await page.evaluate("document.getElementById('total-queries').textContent"))
                           .replace(",", "")),
            "medium_hits": int((await page.evaluate(
                "document.querySelector('#cache-medium td:nth-child(3)').textContent")).replace(",", ""))}
