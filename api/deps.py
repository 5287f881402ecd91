"""Dependencies as Annotated aliases: the engine, the signed-in account, the PII cipher, today.

The token comes from the bearer header here; checking it is georeg.sessions' (the pages'
cookie sessions will bring their token the same way)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Connection

from georeg import sessions
from georeg.accounts import Account, Role, Scope
from georeg.clock import today
from georeg.config import Settings
from georeg.database import transaction
from georeg.errors import Forbidden, PasswordChangeRequired, Unauthorized
from georeg.pii import PiiCipher
from georeg.sessions import LoginPolicy, Session, check_session

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


# Dependencies that do no I/O are async: a sync one costs a hop through the thread pool on
# every request (a fifth of a read by id's time went to such hops and their locks).
async def settings(request: Request) -> Settings:
    return request.app.state.settings


def db(request: Request) -> Iterator[Connection]:
    """One transaction per request: committed when the handler returns, rolled back on error.

    Used with scope="function": the commit comes before the response is sent, so a client
    that reads right after a write sees it, and a failed commit is the client's error, not
    a success already reported (FastAPI's default runs the exit after sending)."""
    with transaction(request.app.state.engine, today(request.app.state.clock)) as conn:
        yield conn


async def cipher(request: Request) -> PiiCipher:
    return request.app.state.cipher


async def request_today(request: Request) -> date:
    """Today in Asia/Shanghai by the app's clock (injectable). Async: too small for a thread."""
    return today(request.app.state.clock)


def client_address(request: Request) -> str:
    """The client's address; X-Forwarded-For counts only from GEOREG_TRUSTED_PROXIES."""
    state = request.app.state
    return sessions.client_address(request.client.host if request.client else None,
                                   request.headers.get("x-forwarded-for"),
                                   state.trusted_proxies)


def login_policy(request: Request) -> LoginPolicy:
    s: Settings = request.app.state.settings
    return LoginPolicy(free_failures=s.login_free_failures,
                       max_delay_s=s.login_max_delay_seconds, lock_after=s.login_lock_after,
                       lock_s=s.login_lock_minutes * 60, idle_s=s.session_idle_minutes * 60,
                       absolute_s=s.token_minutes * 60)


def current_session(conn: Annotated[Connection, Depends(db, scope="function")],
                    token: Annotated[str | None, Depends(oauth2)]) -> Session:
    """The session of the bearer token; its check also sets the request's scope (sql/018)."""
    if not token:
        raise Unauthorized("请先登录（POST /api/v1/auth/token）")
    found = check_session(conn, token)
    if found is None:
        raise Unauthorized("登录已失效或已退出，请重新登录")
    return found


# Only these may be called before a forced password change.
_BEFORE_CHANGE = frozenset({"/api/v1/auth/me", "/api/v1/auth/password", "/api/v1/auth/logout"})


async def current_account(request: Request,
                          session: Annotated[Session, Depends(current_session)]) -> Account:
    account = session.account
    if account.must_change_password and request.url.path not in _BEFORE_CHANGE:
        raise PasswordChangeRequired("请先修改初始密码（POST /api/v1/auth/password）")
    if account.role == Role.service:
        # An API key does what its scopes say: read = GET, collect = site point uploads.
        reading = request.method in ("GET", "HEAD")
        allowed = (Scope.read in account.scopes if reading else
                   Scope.collect in account.scopes
                   and request.url.path.startswith("/api/v1/collections/"))
        if not allowed:
            raise Forbidden("该接口密钥无权进行此操作")
    return account


Db = Annotated[Connection, Depends(db, scope="function")]
CurrentSession = Annotated[Session, Depends(current_session)]
CurrentAccount = Annotated[Account, Depends(current_account)]
Cipher = Annotated[PiiCipher, Depends(cipher)]
AppSettings = Annotated[Settings, Depends(settings)]
Today = Annotated[date, Depends(request_today)]
