"""Account management: administrators manage everyone, township supervisors their collectors."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import Field

from api.deps import CurrentAccount, Db
from api.schemas import ApiModel, NonBlank, PathId
from georeg import accounts, sessions
from georeg.accounts import Role

router = APIRouter(prefix="/accounts", tags=["账号"])


class AccountIn(ApiModel):
    username: str = Field(min_length=2, max_length=64)
    display_name: Annotated[str, NonBlank] = Field(min_length=1, max_length=100)
    role: Role
    township_code: str | None = Field(default=None, min_length=12, max_length=12)
    grids: list[str] = Field(default_factory=list, max_length=200)
    scopes: list[str] = Field(default_factory=list, max_length=5)


class RoleIn(ApiModel):
    role: Role
    township_code: str | None = Field(default=None, min_length=12, max_length=12)


class ApiKeyIn(ApiModel):
    account: str = Field(min_length=2, max_length=64, description="服务账号的账号名")
    label: str | None = Field(default=None, max_length=100)


# API keys first: their paths would otherwise be read as an account id.
@router.get("/api-keys", summary="接口密钥列表（系统管理员）")
def list_api_keys(account: CurrentAccount, conn: Db) -> dict[str, Any]:
    return {"items": sessions.list_api_keys(conn, account)}


@router.post("/api-keys", summary="新建接口密钥（只显示这一次）", status_code=201)
def create_api_key(body: ApiKeyIn, account: CurrentAccount, conn: Db) -> dict[str, Any]:
    key_id, key = sessions.create_api_key(conn, account, body.account, body.label)
    return {"id": key_id, "account": body.account, "label": body.label, "key": key}


@router.post("/api-keys/{key_id}/revoke", summary="吊销接口密钥", status_code=204)
def revoke_api_key(key_id: PathId, account: CurrentAccount, conn: Db) -> None:
    sessions.revoke_api_key(conn, account, key_id)


@router.get("", summary="账号列表")
def list_accounts(account: CurrentAccount, conn: Db) -> dict[str, Any]:
    return {"items": accounts.list_accounts(conn, account)}


@router.post("", summary="新建账号（初始密码只显示这一次，首次登录须修改）", status_code=201)
def create_account(body: AccountIn, account: CurrentAccount, conn: Db) -> dict[str, Any]:
    new = accounts.create_account(conn, account, username=body.username,
                                  display_name=body.display_name, role=body.role,
                                  township_code=body.township_code, grids=body.grids,
                                  scopes=body.scopes)
    return {"id": new.id, "username": new.username, "password": new.password,
            "must_change_password": new.password is not None}


@router.post("/{account_id}/disable", summary="停用账号（其登录随即失效）", status_code=204)
def disable(account_id: PathId, account: CurrentAccount, conn: Db) -> None:
    accounts.set_active(conn, account, account_id, False)


@router.post("/{account_id}/enable", summary="启用账号", status_code=204)
def enable(account_id: PathId, account: CurrentAccount, conn: Db) -> None:
    accounts.set_active(conn, account, account_id, True)


@router.post("/{account_id}/reset-password",
             summary="重置密码（新密码只显示这一次，下次登录须修改）")
def reset_password(account_id: PathId, account: CurrentAccount, conn: Db) -> dict[str, Any]:
    return {"password": accounts.reset_password(conn, account, account_id),
            "must_change_password": True}


@router.put("/{account_id}/role", summary="修改角色与所属乡镇（系统管理员）", status_code=204)
def set_role(account_id: PathId, body: RoleIn, account: CurrentAccount, conn: Db) -> None:
    accounts.set_role(conn, account, account_id, body.role, body.township_code)
