from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import CurrentAccount, Db, issue_token
from georeg.accounts import ROLE_LABELS, authenticate
from georeg.errors import Unauthorized

router = APIRouter(prefix="/auth", tags=["登录"])


@router.post("/token", summary="登录，取得访问令牌")
def token(request: Request, conn: Db,
          form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict[str, Any]:
    account = authenticate(conn, form.username, form.password)
    if account is None:
        raise Unauthorized("账号或密码错误")
    access_token, seconds = issue_token(request, account)
    return {"access_token": access_token, "token_type": "bearer", "expires_in": seconds}


@router.get("/me", summary="当前账号")
def me(account: CurrentAccount) -> dict[str, Any]:
    return {"id": account.id, "username": account.username, "display_name": account.display_name,
            "role": account.role.value, "role_label": ROLE_LABELS[account.role],
            "township_code": account.township_code}
