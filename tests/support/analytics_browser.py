"""A headless Chromium driven through chromedriver's W3C WebDriver HTTP API (no extra Python
package): open a page, fill a form, run a script, take a screenshot. Async, so a service running
in the test's own event loop keeps answering the browser."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Browser:
    def __init__(self, client: httpx.AsyncClient, session: str) -> None:
        self.client = client
        self.session = session

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.client.request(method, f"/session/{self.session}{path}", json=body)
        payload = response.json()
        if response.status_code >= 400:
            raise RuntimeError(f"webdriver {path}: {payload.get('value', {}).get('message', payload)}")
        return payload.get("value")

    async def get(self, url: str) -> None:
        await self._call("POST", "/url", {"url": url})

    async def size(self, width: int, height: int) -> None:
        await self._call("POST", "/window/rect", {"width": width, "height": height})

    async def find(self, css: str) -> str:
        return str((await self._call("POST", "/element", {"using": "css selector", "value": css}))[ELEMENT])

    async def type(self, css: str, text: str) -> None:
        await self._call("POST", f"/element/{await self.find(css)}/value", {"text": text})

    async def click(self, css: str) -> None:
        await self._call("POST", f"/element/{await self.find(css)}/click", {})

    async def script(self, source: str, *args: Any) -> Any:
        return await self._call("POST", "/execute/sync", {"script": source, "args": list(args)})

    async def wait_for(self, source: str, timeout: float = 20.0) -> Any:
        """Poll a script until it returns a truthy value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = await self.script(source)
            if value:
                return value
            if loop.time() > deadline:
                raise TimeoutError(f"browser condition not met: {source}")
            await asyncio.sleep(0.2)

    async def screenshot(self, path: Path) -> bytes:
        png = base64.b64decode(await self._call("GET", "/screenshot"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        return png


@contextlib.asynccontextmanager
async def chromium(width: int = 1400, height: int = 1000) -> AsyncIterator[Browser]:
    """A headless Chromium session (own profile directory), stopped afterwards."""
    port = _free_port()
    driver = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    profile = tempfile.TemporaryDirectory(prefix="canopee-chromium-")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for _ in range(100):
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/status")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            args = [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile.name}",
                f"--window-size={width},{height}",
            ]
            caps = {"browserName": "chrome", "goog:chromeOptions": {"binary": CHROMIUM, "args": args}}
            created = await client.post("/session", json={"capabilities": {"alwaysMatch": caps}})
            session = created.json()["value"]["sessionId"]
            try:
                yield Browser(client, session)
            finally:
                with contextlib.suppress(httpx.HTTPError):
                    await client.delete(f"/session/{session}")
    finally:
        driver.terminate()
        try:
            driver.wait(10)
        except subprocess.TimeoutExpired:
            driver.kill()
        profile.cleanup()
