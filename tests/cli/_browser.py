"""Headless Chromium driven over the DevTools protocol, to look at a page as a person does.

Why the protocol over a websocket from aiohttp rather than Playwright: it needs nothing but
a ``chromium`` binary (aiohttp is already a dependency), so there is no driver package whose
pinned browser revision could disagree with the system's Chromium, and no ``playwright
install`` that downloads a browser. The few commands used here (open a tab, navigate,
evaluate, click, type, screenshot) have been stable in the protocol for years.

The browser runs with a profile of its own in a temporary folder, with everything that
would reach the network on its own turned off; it learns its port from the profile's
``DevToolsActivePort`` file (``--remote-debugging-port=0`` lets it pick a free one on
127.0.0.1). Every wait has a deadline, and the browser is killed at the end whatever happens.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

__all__ = ["Browser", "BrowserError", "Page", "find_chromium"]

# Names the browser has on Debian (chromium), Ubuntu (chromium-browser) and with Google's.
_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_FLAGS = (
    "--headless",
    "--no-sandbox",  # tests run as root in CI, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--disable-client-side-phishing-detection",
    "--disable-domain-reliability",
    "--no-pings",
    "--metrics-recording-only",
    "--safebrowsing-disable-auto-update",
    "--disable-features=Translate,MediaRouter,OptimizationHints",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)
COMMAND_TIMEOUT_S = 20.0
START_TIMEOUT_S = 30.0


class BrowserError(Exception):
    """The browser did not start, answered with an error, or a wait ran out."""


def find_chromium() -> str | None:
    """The Chromium to use: ``$CHROMIUM`` if set, else the first of its usual names on PATH."""
    override = os.environ.get("CHROMIUM")
    if override:
        return shutil.which(override)
    for name in _NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """One headless Chromium and the websocket to it."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self._socket = socket
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._pages: dict[str, Page] = {}
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    @contextlib.asynccontextmanager
    async def launch(cls, executable: str, profile: Path) -> AsyncIterator[Browser]:
        """Start Chromium with its profile in ``profile`` (an empty folder); stop it after.

        Its own messages go to ``profile/chromium.log``, to read when it misbehaves.
        """
        log = (profile / "chromium.log").open("wb")
        process = await asyncio.create_subprocess_exec(
            executable,
            *_FLAGS,
            f"--user-data-dir={profile / 'data'}",
            "about:blank",
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        try:
            url = await _devtools_url(profile / "data", process)
            async with aiohttp.ClientSession() as session:
                socket = await session.ws_connect(url, max_msg_size=0)
                browser = cls(socket)
                try:
                    yield browser
                finally:
                    await browser._close()
        finally:
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), 10)
                except asyncio.TimeoutError:
                    process.kill()
                    await process.wait()
            log.close()

    async def new_page(self, width: int = 1280, height: int = 900) -> Page:
        """A new tab of this size, with its console errors collected."""
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        page = Page(self, attached["sessionId"])
        self._pages[page.session] = page
        for domain in ("Page", "Runtime", "Log"):
            await page.send(f"{domain}.enable")
        await page.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        return page

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        """Send one protocol command; return its result (raise on an error answer)."""
        number = next(self._ids)
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[number] = answer
        try:
            await self._socket.send_str(json.dumps(message))
            reply = await asyncio.wait_for(answer, COMMAND_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise BrowserError(f"{method}: no answer in {COMMAND_TIMEOUT_S} s") from None
        finally:
            self._waiting.pop(number, None)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    async def _read(self) -> None:
        async for message in self._socket:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(message.data)
            if "id" in data:
                answer = self._waiting.get(data["id"])
                if answer is not None and not answer.done():
                    answer.set_result(data)
            elif data.get("sessionId") in self._pages:
                self._pages[data["sessionId"]].on_event(data["method"], data.get("params", {}))
        for answer in self._waiting.values():
            if not answer.done():
                answer.set_exception(BrowserError("the browser closed the connection"))

    async def _close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._socket.send_str(json.dumps(
                {"id": next(self._ids), "method": "Browser.close", "params": {}}
            )), 5)
        await self._socket.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader


class Page:
    """One tab: navigate, evaluate, click, type, take screenshots; its errors are kept."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session
        self.errors: list[str] = []

    def on_event(self, method: str, params: dict[str, Any]) -> None:
        """Keep what a person would see in the console as an error."""
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.errors.append(
                "exception: " + str(details.get("exception", {}).get("description") or details)
            )
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            texts = [str(arg.get("value", arg.get("description"))) for arg in params["args"]]
            self.errors.append("console.error: " + " ".join(texts))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}")

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A protocol command for this tab."""
        return await self.browser.send(method, params, self.session)

    async def goto(self, url: str, *, javascript: bool = True) -> None:
        """Open ``url`` and wait until it has loaded (with its script run or not)."""
        await self.send("Emulation.setScriptExecutionDisabled", {"value": not javascript})
        navigated = await self.send("Page.navigate", {"url": url})
        if navigated.get("errorText"):
            raise BrowserError(f"cannot open {url}: {navigated['errorText']}")
        await self.wait_for("document.readyState === 'complete'")

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaited if it is a promise)."""
        answer = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in answer:
            details = answer["exceptionDetails"]
            raise BrowserError(
                f"{expression!r} threw: "
                + str(details.get("exception", {}).get("description") or details.get("text"))
            )
        return answer["result"].get("value")

    async def wait_for(self, expression: str, *, timeout: float = 15.0) -> Any:
        """Evaluate ``expression`` until it is truthy; its value. Raises after ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if loop.time() > deadline:
                raise BrowserError(f"still false after {timeout} s: {expression}")
            await asyncio.sleep(0.05)

    async def click(self, selector: str) -> None:
        """Click the middle of the first element ``selector`` matches, as a mouse would."""
        point = await self.evaluate(
            f"""(() => {{
                const node = document.querySelector({json.dumps(selector)});
                if (!node) return null;
                node.scrollIntoView({{block: "center", inline: "center"}});
                const box = node.getBoundingClientRect();
                return [box.left + box.width / 2, box.top + box.height / 2];
            }})()"""
        )
        if point is None:
            raise BrowserError(f"nothing to click: {selector}")
        x, y = point
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            await self.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1},
            )

    async def type(self, selector: str, text: str) -> None:
        """Click into a text field and type ``text`` (after what is there)."""
        await self.click(selector)
        await self.send("Input.insertText", {"text": text})

    async def screenshot(self, path: Path, *, full_page: bool = False) -> Path:
        """Save what the tab shows (or the whole page) as a PNG."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            metrics = await self.send("Page.getLayoutMetrics")
            size = metrics["cssContentSize"]
            params["captureBeyondViewport"] = True
            params["clip"] = {
                "x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1,
            }
        shot = await self.send("Page.captureScreenshot", params)
        await asyncio.to_thread(_write, path, base64.b64decode(shot["data"]))
        return path


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


async def _devtools_url(profile: Path, process: asyncio.subprocess.Process) -> str:
    """The browser's websocket URL, from the port file it writes into its profile."""
    port_file = profile / "DevToolsActivePort"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_S
    while loop.time() < deadline:
        if process.returncode is not None:
            raise BrowserError(f"Chromium exited with {process.returncode} while starting")
        try:
            lines = port_file.read_text().split()
        except OSError:
            lines = []
        if len(lines) >= 2:
            return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        await asyncio.sleep(0.05)
    raise BrowserError(f"Chromium did not open its DevTools port in {START_TIMEOUT_S} s")
