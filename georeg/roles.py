"""Roles and API-key scopes: names only, so that the command line can list them without loading
the account tables (georeg.accounts, GeoAlchemy2 behind it, re-exports them)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    collector = "collector"
    township_supervisor = "township_supervisor"
    county_supervisor = "county_supervisor"
    credit_clerk = "credit_clerk"
    admin = "admin"
    service = "service"


ROLE_LABELS = {
    Role.collector: "采集员",
    Role.township_supervisor: "乡镇监管员",
    Role.county_supervisor: "县级监管员",
    Role.credit_clerk: "信用管理员",
    Role.admin: "系统管理员",
    Role.service: "服务账号（接口密钥）",
}


class Scope(StrEnum):
    """What a service account's API keys may do."""
    read = "read"        # GET requests
    collect = "collect"  # site point uploads
