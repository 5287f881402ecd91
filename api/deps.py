"""Dependencies as Annotated aliases: the engine, the signed-in account, the PII cipher, today."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, timedelta
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Connection

from georeg.accounts import Account, get_account
from georeg.clock import today
from georeg.config import Settings
from georeg.database import set_scope, transaction
from georeg.errors import Unauthorized
from georeg.pii import PiiCipher

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def settings(request: Request) -> Settings:
    return request.app.state.settings


def db(request: Request) -> Iterator[Connection]:
    """One transaction per request: committed when the handler returns, rolled back on error.

    Used with scope="function": the commit comes before the response is sent, so a client
    that reads right after a write sees it, and a failed commit is the client's error, not
    a success already reported (FastAPI's default runs the exit after sending)."""
    with transaction(request.app.state.engine, today(request.app.state.clock)) as conn:
        yield conn


def cipher(request: Request) -> PiiCipher:
    return request.app.state.cipher


async def request_today(request: Request) -> date:
    """Today in Asia/Shanghai by the app's clock (injectable). Async: too small for a thread."""
    return today(request.app.state.clock)


def issue_token(request: Request, account: Account) -> tuple[str, int]:
    state = request.app.state
    seconds = state.settings.token_minutes * 60
    claims = {"sub": str(account.id), "role": account.role.value,
              "exp": state.clock().astimezone(UTC) + timedelta(seconds=seconds)}
    return jwt.encode(claims, state.token_secret, algorithm="HS256"), seconds


def current_account(request: Request,
                    conn: Annotated[Connection, Depends(db, scope="function")],
                    token: Annotated[str | None, Depends(oauth2)]) -> Account:
    if not token:
        raise Unauthorized("请先登录（POST /api/v1/auth/token）")
    try:
        # Expiry is checked against the app's clock (injectable), not the library's.
        claims = jwt.decode(token, request.app.state.token_secret, algorithms=["HS256"],
                            options={"verify_exp": False, "require": ["exp", "sub"]})
        if claims["exp"] <= request.app.state.clock().timestamp():
            raise Unauthorized("登录已过期，请重新登录")
        account = get_account(conn, int(claims["sub"]))
    except (jwt.PyJWTError, KeyError, ValueError) as e:
        raise Unauthorized("登录凭证无效或已过期") from e
    if account is None:
        raise Unauthorized("账号不存在或已停用")
    set_scope(conn, account_id=account.id, role=account.role.value,
              township_code=account.township_code)
    return account


Db = Annotated[Connection, Depends(db, scope="function")]
CurrentAccount = Annotated[Account, Depends(current_account)]
Cipher = Annotated[PiiCipher, Depends(cipher)]
AppSettings = Annotated[Settings, Depends(settings)]
Today = Annotated[date, Depends(request_today)]
