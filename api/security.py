"""Security headers on every response: CSP, frame denial, nosniff, referrer and permissions
policies, and HSTS on HTTPS.

A pure ASGI middleware (no BaseHTTPMiddleware: it would buffer streamed uploads and reports).
Each request gets a fresh CSP nonce in `request.state.csp_nonce`; the map pages put it on their
inline <script> tags (folium writes the map's set-up inline), and the policy allows no other
inline script.

Policy choices:
- style-src has 'unsafe-inline': folium writes <style> blocks and style attributes, Leaflet and
  our legend set style attributes through innerHTML; styles cannot run code, and a nonce in
  style-src would switch 'unsafe-inline' off for the attributes.
- img-src: the base-map tile hosts of maps.pages (OpenStreetMap, Tianditu with a key, Amap),
  data: and blob: for Leaflet's icons and canvas exports.
- Referrer-Policy same-origin: nothing about the intranet (addresses, township codes in page
  URLs) goes to tile hosts, while the server's own pages keep a Referer for checks of where a
  request comes from (cookie sessions of the workbench).
- /docs and /redoc (Swagger UI and ReDoc load from a CDN with an inline start script) get their
  own looser policy until a later issue serves Swagger locally; they show no registry data.
"""

from __future__ import annotations

import secrets

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HSTS = "max-age=31536000"  # one year; no includeSubDomains: an intranet name's siblings vary
DOCS_CDN = "https://cdn.jsdelivr.net"
DOCS_PATHS = ("/docs", "/redoc")
# geolocation for the collector app (same origin only); the rest off
PERMISSIONS = "geolocation=(self), camera=(), microphone=(), payment=(), usb=()"


def content_security_policy(nonce: str, tile_origins: list[str]) -> str:
    img = " ".join(["'self'", "data:", "blob:", *tile_origins])
    return ("default-src 'self'; "
            f"script-src 'self' 'nonce-{nonce}'; "
            "style-src 'self' 'unsafe-inline'; "
            f"img-src {img}; "
            "font-src 'self' data:; "
            "connect-src 'self'; "
            "worker-src 'self' blob:; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'")


def docs_policy() -> str:
    return ("default-src 'self'; "
            f"script-src 'self' 'unsafe-inline' {DOCS_CDN}; "
            f"style-src 'self' 'unsafe-inline' {DOCS_CDN}; "
            f"img-src 'self' data: {DOCS_CDN} https://fastapi.tiangolo.com; "
            f"font-src 'self' data: {DOCS_CDN}; "
            f"connect-src 'self'; worker-src 'self' blob:; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'")


class SecurityHeaders:
    def __init__(self, app: ASGIApp, tile_origins: list[str]) -> None:
        self.app = app
        self.tile_origins = list(tile_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})["csp_nonce"] = nonce
        path: str = scope.get("path", "")
        docs = any(path == p or path.startswith(p + "/") for p in DOCS_PATHS)
        csp = docs_policy() if docs else content_security_policy(nonce, self.tile_origins)
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = csp
                headers["X-Frame-Options"] = "DENY"
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "same-origin"
                headers["Permissions-Policy"] = PERMISSIONS
                headers["Cross-Origin-Opener-Policy"] = "same-origin"
                if https:  # HSTS over plain HTTP is ignored by browsers and would mislead
                    headers["Strict-Transport-Security"] = HSTS
            await send(message)

        await self.app(scope, receive, send_with_headers)
