"""Browser-test helpers: the app served by uvicorn in a thread, headless Debian Chromium driven by
Playwright, and pages that refuse to leave 127.0.0.1 and record every console error."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# Base map tile servers: their requests are expected and fail (no internet in tests).
TILE_HOSTS = ("tile.openstreetmap.org", "tianditu.gov.cn", "is.autonavi.com")
TOKEN_KEY = "georeg.token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """The app on a free port of 127.0.0.1 for the duration; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class Watch:
    """What a page did: console errors, page errors, requests that tried to leave 127.0.0.1."""
    base: str
    errors: list[str] = field(default_factory=list)
    tile_requests: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)

    def route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(self.base) or url.startswith(("data:", "blob:", "file:")):
            route.continue_()
            return
        host = url.split("/")[2] if "//" in url else url
        (self.tile_requests if host.endswith(TILE_HOSTS) else self.outside_requests).append(url)
        route.abort()

    def console(self, message: Any) -> None:
        if message.type != "error":
            return
        where = (message.location or {}).get("url", "")
        # A failed (blocked) tile is reported as a console error against the tile's URL.
        if "Failed to load resource" in message.text and not where.startswith(self.base):
            return
        self.errors.append(f"{message.text} @ {where}")

    def attach(self, page: Any) -> None:
        page.on("console", self.console)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))


def signed_in(context: Any, token: str) -> None:
    """Every page of the context starts with the token the login page would have stored."""
    context.add_init_script(f"sessionStorage.setItem({json.dumps(TOKEN_KEY)}, {json.dumps(token)})")


def wait_ready(page: Any, timeout: float = 20_000) -> None:
    # a function, not an expression: Playwright evals expressions in the page, which the CSP
    # (no 'unsafe-eval') refuses
    page.wait_for_function("() => document.body && document.body.dataset.ready === '1'",
                           timeout=timeout)


def feature_count(page: Any, layer: str) -> int:
    """Features loaded into a page layer (clusters count their points)."""
    return int(page.evaluate("""(id) => {
        const l = georeg.layers[id];
        if (l._data) return l._data.features.length;
        let n = 0; l.eachLayer(() => n++); return n; }""", layer))
