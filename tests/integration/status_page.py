"""Driving the status page's sign-in form (GET /api/health/dashboard) in headless Chromium
(cdp.py), for the tests that open it."""
from __future__ import annotations

from cdp import Chromium

PAGE = "/api/health/dashboard"


async def open_sign_in(page: Chromium, base: str) -> None:
    """Load the page and wait for its sign-in form."""
    await page.navigate(base + PAGE)
    await page.wait_for("!document.getElementById('login-panel').hidden", "the sign-in form")


async def sign_in(page: Chromium, email: str, password: str) -> None:
    """Type the account into the form and submit it, as a user would."""
    await page.type_into("#email", email)
    await page.type_into("#password", password)
    await page.evaluate("document.querySelector('#login button[type=submit]').click()")
