from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import Field

from api.deps import CurrentSession, Db, client_address, login_policy
from api.schemas import ApiModel
from georeg.accounts import ROLE_LABELS, change_password
from georeg.sessions import revoke_current, sign_in

router = APIRouter(prefix="/auth", tags=["登录"])


# No `Db` here: the password check must hold neither a transaction nor a pooled connection
# (georeg.sessions.sign_in opens two short ones around it).
@router.post("/token", summary="登录，取得访问令牌")
def token(request: Request,
          form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict[str, Any]:
    signed = sign_in(request.app.state.engine, form.username, form.password,
                     client_address(request), login_policy(request))
    return {"access_token": signed.token, "token_type": "bearer",
            "expires_in": signed.expires_in,
            "must_change_password": signed.must_change_password}


@router.post("/logout", summary="退出登录（本次登录的令牌随即失效）", status_code=204)
def logout(session: CurrentSession, conn: Db) -> None:
    revoke_current(conn)


class PasswordChange(ApiModel):
    old_password: str = Field(max_length=200)
    new_password: str = Field(max_length=200)


@router.post("/password", summary="修改密码（其他登录随即失效）", status_code=204)
def password(body: PasswordChange, session: CurrentSession, conn: Db) -> None:
    change_password(conn, session.account, session.id, body.old_password, body.new_password)


@router.get("/me", summary="当前账号")
def me(session: CurrentSession) -> dict[str, Any]:
    account = session.account
    return {"id": account.id, "username": account.username, "display_name": account.display_name,
            "role": account.role.value, "role_label": ROLE_LABELS[account.role],
            "township_code": account.township_code, "grids": list(account.grid_codes),
            "scopes": list(account.scopes), "demo": account.demo,
            "must_change_password": account.must_change_password}
