"""The one door of `veritune serve`: every request but `GET /health` shows a key, the mounted apps included.

Programs send `Authorization: Bearer <key>`. A browser that opens `/ui/<app>/` without one gets a small form
instead of the app; the key it posts to `/login` is checked against the key store and exchanged for a session
cookie (random, HttpOnly, SameSite=Strict, held in this process only), so the key itself is never stored by the
browser. Every authenticated request is rate-limited (the API by the key's own rate, the apps' pages and assets by
`ServeConfig.ui_rate`), refusals are logged with status, code, path and key name (never content), and every
response carries headers that forbid framing and content sniffing.
"""

from __future__ import annotations

import html
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from veritune.logs import get_logger

if TYPE_CHECKING:
    from apps.keys import ApiKey, KeyStore

log = get_logger("serve")
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

SESSION_COOKIE = "veritune_session"
SESSION_SECONDS = 12 * 3600
OPEN_PATHS = frozenset({"/health"})
SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
LOGIN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>veritune · key required</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto}}input{{width:100%;padding:.4rem}}
button{{margin-top:.6rem;padding:.4rem 1rem}}</style></head><body>
<h2>veritune · API key required</h2><p>{message}</p>
<form method="post" action="/login"><input type="hidden" name="next" value="{next}">
<label for="key">API key (<code>veritune serve key add</code> makes one)</label>
<input id="key" name="key" type="password" autocomplete="off" autofocus>
<button type="submit">Open</button></form></body></html>"""


class ApiError(Exception):
    """A refused request: its status and an OpenAI-shaped body (`{"error": {message, type, param, code}}`)."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.code, self.param = status, message, kind, code, param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


@dataclass
class _Session:
    key_id: int
    expires: float


class Sessions:
    """Browser sessions of the mounted apps: a random token per login, mapped to the key that opened it."""

    def __init__(self, seconds: float = SESSION_SECONDS) -> None:
        self.seconds = seconds
        self._by_token: dict[str, _Session] = {}
        self._lock = threading.Lock()

    def open(self, key: ApiKey) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = time.time()
            self._by_token = {t: s for t, s in self._by_token.items() if s.expires > now}
            self._by_token[token] = _Session(key.id, now + self.seconds)
        return token

    def key_id(self, token: str) -> int | None:
        with self._lock:
            session = self._by_token.get(token)
        return session.key_id if session is not None and session.expires > time.time() else None


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def cookie(headers: Any, name: str) -> str | None:
    """`name` from a Cookie header value (or from a mapping of headers); None when absent or malformed."""
    raw = headers if isinstance(headers, str) or headers is None else headers.get("cookie")
    if not raw:
        return None
    try:
        jar = SimpleCookie(raw)
    except CookieError:
        return None
    return jar[name].value if name in jar else None


class KeyResolver:
    """Who is calling: a bearer key or a browser session, checked against the key store."""

    def __init__(self, keys: KeyStore, sessions: Sessions) -> None:
        self.keys, self.sessions = keys, sessions

    def resolve(self, authorization: str | None, session: str | None) -> ApiKey:
        if authorization:
            if not authorization.startswith("Bearer "):
                raise ApiError(401, "send the key as 'Authorization: Bearer <key>'", "authentication_error",
                              "missing_api_key")
            key = self.keys.authenticate(authorization.removeprefix("Bearer ").strip())
            if key is None:
                raise ApiError(401, "invalid API key", "authentication_error", "invalid_api_key")
        elif session:
            key_id = self.sessions.key_id(session)
            key = self.keys.by_id(key_id) if key_id is not None else None
            if key is None:
                raise ApiError(401, "the session has expired: open the page again and enter your key",
                              "authentication_error", "session_expired")
        else:
            raise ApiError(401, "missing API key: send 'Authorization: Bearer <key>'", "authentication_error",
                          "missing_api_key")
        if key.revoked:
            raise ApiError(401, "this API key has been revoked", "authentication_error", "revoked_api_key")
        return key


def log_refusal(refusal: ApiError, path: str, key: ApiKey | None = None) -> None:
    log.warning("refused status=%d code=%s path=%s key=%s", refusal.status, refusal.code, path,
                key.name if key is not None else "-")


class Door:
    """ASGI middleware in front of the whole server (API routes and mounted apps alike)."""

    def __init__(self, app: Callable[..., Awaitable[None]], resolver: KeyResolver,
                 check_rate: Callable[[ApiKey, str | None], None], ui_rate: str) -> None:
        self.app, self.resolver, self.check_rate, self.ui_rate = app, resolver, check_rate, ui_rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        send = _with_security_headers(send)
        if path in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        if path == "/login" and scope.get("method") == "POST":
            await self._login(scope, receive, send)
            return
        key = None
        try:
            key = self.resolver.resolve(header(scope, b"authorization"),
                                        cookie(header(scope, b"cookie"), SESSION_COOKIE))
            self.check_rate(key, self.ui_rate if path.startswith("/ui/") else None)
        except ApiError as refusal:
            log_refusal(refusal, path, key)
            await self._refuse(scope, receive, send, refusal)
            return
        scope.setdefault("state", {})["key"] = key
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, refusal: ApiError) -> None:
        from starlette.responses import JSONResponse

        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        wants_page = "text/html" in (header(scope, b"accept") or "") and scope["path"].startswith("/ui/")
        if wants_page and refusal.status == 401:
            await _login_page(refusal, scope["path"])(scope, receive, send)
            return
        await JSONResponse(refusal.body(), status_code=refusal.status, headers=refusal.headers)(scope, receive, send)

    async def _login(self, scope: Scope, receive: Receive, send: Send) -> None:
        from starlette.responses import RedirectResponse

        form = parse_qs((await _read_small_body(receive)).decode("utf-8", "replace"))
        target = (form.get("next") or ["/ui/"])[0]
        if not target.startswith("/ui/") or urlsplit(target).netloc:      # never an open redirect
            target = "/ui/"
        try:
            key = self.resolver.resolve("Bearer " + (form.get("key") or [""])[0].strip(), None)
        except ApiError as refusal:
            log_refusal(refusal, "/login")
            await _login_page(refusal, target)(scope, receive, send)
            return
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(SESSION_COOKIE, self.resolver.sessions.open(key), max_age=SESSION_SECONDS, path="/",
                            httponly=True, samesite="strict")
        log.info("login key=%s", key.name)
        await response(scope, receive, send)


def _login_page(refusal: ApiError, next_path: str) -> Any:
    """The form a browser gets instead of a 401's JSON: why, and a field for the key."""
    from starlette.responses import HTMLResponse

    page = LOGIN_PAGE.format(message=html.escape(refusal.message), next=html.escape(next_path))
    return HTMLResponse(page, status_code=401)


async def _read_small_body(receive: Receive, limit: int = 4096) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if len(body) > limit or not message.get("more_body"):
            return body[:limit]


def _with_security_headers(send: Send) -> Send:
    async def wrapped(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            present = {name.lower() for name, _ in message.get("headers", [])}
            message["headers"] = [*message.get("headers", []),
                                  *[(name, value) for name, value in SECURITY_HEADERS if name not in present]]
        await send(message)

    return wrapped
