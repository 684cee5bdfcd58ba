"""A headless Chromium for the front-end tests, driven over the Chrome DevTools Protocol.

No browser-automation package: the protocol is JSON over a websocket, spoken here with aiohttp (one of ComfyUI's
own requirements, so installed wherever the live tests run). The browser is the system's Chromium or Chrome
($CLIPSTYLER_CHROMIUM names another); without one the front-end tests skip, or fail in CI
(CLIPSTYLER_REQUIRE_COMFYUI=1), as the other live tests do without ComfyUI.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import time
import urllib.request

import comfy_env
import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_chromium() -> str:
    """The browser's path, or skip (fail where CI requires the live tests) the calling test."""
    named = os.environ.get("CLIPSTYLER_CHROMIUM")
    found = named if named and os.path.isfile(named) else next(filter(None, map(shutil.which, BROWSERS)), None)
    if found is None:
        message = (f"no Chromium or Chrome found ({', '.join(BROWSERS)} on PATH, or $CLIPSTYLER_CHROMIUM): "
                   "the front-end test needs one (e.g. apt-get install chromium)")
        if comfy_env.REQUIRED:
            pytest.fail(f"CLIPSTYLER_REQUIRE_COMFYUI=1 but {message}", pytrace=False)
        pytest.skip(message)
    return found


class BrowserError(RuntimeError):
    pass


class Chromium:
    """One headless browser with one page: evaluate JavaScript in it, take screenshots. Use it as a context."""

    def __init__(self, executable: str, profile: str, size: tuple[int, int] = (1400, 1000)) -> None:
        self.profile = profile
        self.log_path = os.path.join(profile, "chromium.log")
        os.makedirs(profile, exist_ok=True)
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
             "--remote-debugging-port=0", f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
             "about:blank"],
            stdout=self._log, stderr=subprocess.STDOUT,
        )
        self.console: list[str] = []  # the page's console messages and uncaught errors, for failure messages
        self._loop = asyncio.new_event_loop()
        self._ids = 0
        try:
            self._session, self._socket = self._loop.run_until_complete(self._connect(self._page_socket()))
            for domain in ("Page", "Runtime"):
                self.call(f"{domain}.enable")
            # The page's own size (the window's includes a headless toolbar's worth less): screenshots are this big.
            self.call("Emulation.setDeviceMetricsOverride", {"width": size[0], "height": size[1],
                                                              "deviceScaleFactor": 1, "mobile": False})
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _page_socket(self, timeout: float = 60) -> str:
        """The page target's websocket URL, once the browser has written its debugging port."""
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        end = time.time() + timeout
        while time.time() < end:
            if self.process.poll() is not None:
                raise BrowserError(f"Chromium exited ({self.process.returncode}):\n{self.logs()[-2000:]}")
            if os.path.isfile(port_file) and open(port_file).read().count("\n") >= 1:
                port = int(open(port_file).read().split()[0])
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
                    pages = [t for t in json.loads(response.read()) if t.get("type") == "page"]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
            time.sleep(0.2)
        raise BrowserError(f"Chromium did not open its debugging port:\n{self.logs()[-2000:]}")

    async def _connect(self, url: str):
        import aiohttp

        session = aiohttp.ClientSession()
        return session, await session.ws_connect(url, max_msg_size=0)

    def call(self, method: str, params: dict | None = None, timeout: float = 60) -> dict:
        return self._loop.run_until_complete(asyncio.wait_for(self._call(method, params or {}), timeout))

    async def _call(self, method: str, params: dict) -> dict:
        import aiohttp

        self._ids += 1
        ident = self._ids
        await self._socket.send_json({"id": ident, "method": method, "params": params})
        async for message in self._socket:
            if message.type != aiohttp.WSMsgType.TEXT:
                raise BrowserError(f"the browser's socket closed during {method}")
            data = json.loads(message.data)
            if data.get("id") == ident:
                if "error" in data:
                    raise BrowserError(f"{method}: {data['error']}")
                return data.get("result", {})
            self._note(data)
        raise BrowserError(f"the browser's socket closed during {method}")

    def _note(self, event: dict) -> None:
        params = event.get("params", {})
        if event.get("method") == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.console.append(f"console.{params.get('type')}: {text}")
        elif event.get("method") == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.console.append(f"uncaught: {details.get('exception', {}).get('description', details.get('text'))}")

    def evaluate(self, expression: str, timeout: float = 60):
        """The value of a JavaScript expression (awaited if it is a promise), as JSON brings it back."""
        result = self.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                "returnByValue": True}, timeout)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(f"{details.get('exception', {}).get('description', details.get('text'))}\n"
                               f"console:\n" + "\n".join(self.console[-20:]))
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 120, what: str = "") -> object:
        """Evaluate expression until it is truthy; its value."""
        end = time.time() + timeout
        while time.time() < end:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.25)
        raise BrowserError(f"timed out waiting for {what or expression}\nconsole:\n" + "\n".join(self.console[-20:]))

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", {"url": url})

    def screenshot(self, path: str) -> None:
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as file:
            file.write(base64.b64decode(data))

    def logs(self) -> str:
        self._log.flush()
        return open(self.log_path).read()

    def close(self) -> None:
        if getattr(self, "_session", None) is not None:
            self._loop.run_until_complete(self._session.close())
            self._session = None
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self._loop.close()
        self._log.close()
