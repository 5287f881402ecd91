"""Accounts, roles and password hashing (Argon2id)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Row, select, text

from georeg.tables import account as account_table

_hasher = PasswordHasher()


class Role(StrEnum):
    collector = "collector"
    township_supervisor = "township_supervisor"
    county_supervisor = "county_supervisor"
    credit_clerk = "credit_clerk"
    admin = "admin"


ROLE_LABELS = {
    Role.collector: "采集员",
    Role.township_supervisor: "乡镇监管员",
    Role.county_supervisor: "县级监管员",
    Role.credit_clerk: "信用管理员",
    Role.admin: "系统管理员",
}

# Roles that see personal numbers in full (every full view is recorded).
PII_ROLES = frozenset({Role.admin, Role.credit_clerk})
# Roles that write to the registry; township roles only within their township.
WRITE_ROLES = frozenset({Role.collector, Role.township_supervisor, Role.county_supervisor,
                         Role.admin})


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    display_name: str
    role: Role
    township_code: str | None

    @property
    def county_wide(self) -> bool:
        return self.township_code is None

    @property
    def writes(self) -> bool:
        return self.role in WRITE_ROLES

    def may_write(self, township_code: str) -> bool:
        in_scope = self.county_wide or self.township_code == township_code
        return self.role in WRITE_ROLES and in_scope

    @property
    def sees_pii(self) -> bool:
        return self.role in PII_ROLES


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# An active account as `Account` reads it.
_ACTIVE = select(account_table.c.id, account_table.c.username, account_table.c.display_name,
                 account_table.c.role, account_table.c.township_code).where(account_table.c.active)


def _row_to_account(row: Row[Any]) -> Account:
    return Account(row.id, row.username, row.display_name, Role(row.role), row.township_code)


def authenticate(conn: Connection, username: str, password: str) -> Account | None:
    row = conn.execute(_ACTIVE.add_columns(account_table.c.password_hash)
                       .where(account_table.c.username == username)).first()
    if row is None or not verify_password(row.password_hash, password):
        return None
    return _row_to_account(row)


def get_account(conn: Connection, account_id: int) -> Account | None:
    row = conn.execute(_ACTIVE.where(account_table.c.id == account_id)).first()
    return _row_to_account(row) if row else None


def get_account_by_username(conn: Connection, username: str) -> Account | None:
    """The active account with this username, or None."""
    row = conn.execute(_ACTIVE.where(account_table.c.username == username)).first()
    return _row_to_account(row) if row else None


def ensure_account(conn: Connection, *, username: str, display_name: str, role: Role,
                   password: str, township_code: str | None = None) -> bool:
    """Create the account unless it exists (an existing password is never reset); True if new."""
    result = conn.execute(text(
        "INSERT INTO account (username, display_name, role, township_code, password_hash) "
        "VALUES (:u, :d, :r, :t, :p) ON CONFLICT (username) DO NOTHING"),
        {"u": username, "d": display_name, "r": role.value, "t": township_code,
         "p": hash_password(password)})
    return result.rowcount == 1
