"""Headless Chromium driven through the DevTools protocol (aiohttp's WebSocket client):
enough to open a page, type, click, read the DOM and take a screenshot, with no
WebDriver and no extra Python package."""
from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
from live import stop


class CdpError(RuntimeError):
    pass


class Chromium:
    """One headless browser with one page. Use as `async with Chromium(binary, workdir) as page:`."""

    def __init__(self, binary: str, workdir: Path, width: int = 1280, height: int = 960) -> None:
        self.binary, self.workdir = binary, workdir
        self.size = (width, height)
        self.process: subprocess.Popen | None = None
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}
        self._reader: asyncio.Task | None = None
        self.events: list[dict] = []         # every event received, in order (console, log, network...)

    async def __aenter__(self) -> Chromium:
        profile = self.workdir / "chromium-profile"
        profile.mkdir(parents=True, exist_ok=True)
        args = [self.binary, "--headless=new", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--mute-audio", "--hide-scrollbars",
                f"--window-size={self.size[0]},{self.size[1]}", f"--user-data-dir={profile}",
                "--remote-debugging-port=0", "about:blank"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.insert(1, "--no-sandbox")       # Chromium refuses to run its sandbox as root
        self.log = (self.workdir / "chromium.log").open("w")
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            port = await self._devtools_port(profile / "DevToolsActivePort")
            self.session = aiohttp.ClientSession()
            async with self.session.get(f"http://127.0.0.1:{port}/json/list") as response:
                targets = await response.json(content_type=None)
            page = next(t for t in targets if t["type"] == "page")
            self.ws = await self.session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=64 * 1024 * 1024)
            self._reader = asyncio.create_task(self._read())
            for domain in ("Page", "Runtime", "Log", "Network"):
                await self.send(f"{domain}.enable")
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self.ws is not None:
            await self.ws.close()
        if self.session is not None:
            await self.session.close()
        if self.process is not None:
            stop(self.process, timeout=10)
        self.log.close()

    async def _devtools_port(self, path: Path, timeout: float = 30.0) -> int:
        """Chromium writes the port it chose (--remote-debugging-port=0) into the profile."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise CdpError(f"chromium exited {self.process.returncode}: "
                               f"{(self.workdir / 'chromium.log').read_text()[-2000:]}")
            if path.exists():
                lines = path.read_text().split()
                if lines:
                    return int(lines[0])
            await asyncio.sleep(0.1)
        raise CdpError(f"chromium did not open its DevTools port within {timeout:g} s")

    async def _read(self) -> None:
        assert self.ws is not None
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(message.data)
            future = self._waiting.pop(data.get("id"), None)
            if future is not None and not future.done():
                future.set_result(data)
            elif "method" in data:
                self.events.append(data)
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(CdpError("the DevTools connection closed"))

    async def send(self, method: str, timeout: float = 30.0, **params: Any) -> dict:
        assert self.ws is not None
        message_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._waiting[message_id] = future
        await self.ws.send_str(json.dumps({"id": message_id, "method": method, "params": params}))
        answer = await asyncio.wait_for(future, timeout)
        if "error" in answer:
            raise CdpError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise CdpError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, what: str, timeout: float = 20.0) -> Any:
        """Poll a JavaScript expression until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = await self.evaluate(expression)
            if value not in (None, False, 0, ""):        # JavaScript truthiness ({} is a DOM node)
                return value
            await asyncio.sleep(0.2)
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last value {value!r})")

    async def navigate(self, url: str) -> None:
        await self.send("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete' && location.href", f"{url} to load")

    async def type_into(self, selector: str, text: str) -> None:
        """Focus an input and type into it as a user would (input events included)."""
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        await self.send("Input.insertText", text=text)

    async def screenshot(self) -> bytes:
        result = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=False)
        return base64.b64decode(result["data"])
