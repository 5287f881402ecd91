"""Accounts, roles, password hashing (Argon2id), password rules and account management.

Who may manage whom: an administrator manages every account; a township supervisor the
collectors of its own township. `actor=None` is the command line (the database owner), which
may do anything. Every write records who did it (created_by / updated_by; NULL: the CLI).
Sessions (tokens, sign-in, API keys as bearer tokens) live in georeg.sessions.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Row, select, text

from georeg.errors import FieldError, Forbidden, InvalidInput, NotFound, ServerBusy
from georeg.roles import ROLE_LABELS, Role, Scope
from georeg.tables import account as account_table

_hasher = PasswordHasher()
# Argon2 takes ~64 MiB and tens of milliseconds per check: a bounded number at once per process,
# so a flood of sign-ins queues here instead of exhausting memory and cores.
# At most half the cores: a flood of sign-ins leaves the rest to everyone signed in already.
HASHING = threading.BoundedSemaphore(max(1, (os.cpu_count() or 2) // 2))
# Beyond this many waiting, a sign-in is turned away at once (503, Retry-After) instead of holding
# one of the server's worker threads: 80 concurrent bad sign-ins held all 40 of them and a
# signed-in user's read waited 7 s behind them.
HASH_QUEUE = 6
_queue = threading.Semaphore(HASH_QUEUE + 2)


@contextmanager
def _hashing() -> Iterator[None]:
    if not _queue.acquire(blocking=False):
        raise ServerBusy("登录请求过多，请稍后重试", retry_after=2)
    try:
        with HASHING:
            yield
    finally:
        _queue.release()


# Roles that see personal numbers in full (every full view is recorded).
PII_ROLES = frozenset({Role.admin, Role.credit_clerk})
# Roles that write to the registry; township roles only within their township.
WRITE_ROLES = frozenset({Role.collector, Role.township_supervisor, Role.county_supervisor,
                         Role.admin})
TOWNSHIP_ROLES = frozenset({Role.collector, Role.township_supervisor})


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    display_name: str
    role: Role
    township_code: str | None
    scopes: tuple[str, ...] = ()
    grid_codes: tuple[str, ...] = ()
    must_change_password: bool = False
    demo: bool = False

    @property
    def county_wide(self) -> bool:
        return self.township_code is None

    @property
    def writes(self) -> bool:
        # a service key with `collect` uploads site points (the API lets it do nothing else)
        return self.role in WRITE_ROLES or (self.role == Role.service
                                            and Scope.collect in self.scopes)

    def may_write(self, township_code: str) -> bool:
        in_scope = self.county_wide or self.township_code == township_code
        return self.writes and in_scope

    @property
    def sees_pii(self) -> bool:
        return self.role in PII_ROLES


# --- passwords ------------------------------------------------------------------------------------

MIN_PASSWORD_LENGTH = 10
# The most common choices (and this project's own demo password): refused whatever their length.
COMMON_PASSWORDS = frozenset({
    "1234567890", "12345678910", "123456789a", "0123456789", "1111111111", "0000000000",
    "1qaz2wsx3edc", "qwertyuiop", "qwerty12345", "qwe123456789", "password12", "password123",
    "password1234", "passw0rd123", "iloveyou123", "a123456789", "abc1234567", "abcd123456",
    "aa123456789", "woaini1314", "woaini520", "5201314520", "admin12345", "admin123456",
    "administrator", "georeg-demo", "georeg123456", "anxi123456", "changeme123",
})
# No 0/O, 1/l/I: generated passwords are read aloud and typed on phones.
_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def hash_password(password: str) -> str:
    with _hashing():
        return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    with _hashing():
        try:
            return _hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False


@cache
def dummy_hash() -> str:
    """A hash of a random password: an unknown user's sign-in verifies against it, so that it
    costs what a wrong password costs."""
    return _hasher.hash(secrets.token_urlsafe(16))


def generate_password() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(14))


def check_new_password(username: str, password: str, field_name: str = "new_password") -> None:
    """The rules for a chosen password: long enough, not the username, not a common one."""
    def bad(code: str, message: str) -> InvalidInput:
        return InvalidInput(message, [FieldError(field_name, code, message)])
    if len(password) < MIN_PASSWORD_LENGTH:
        raise bad("too_short", f"密码至少 {MIN_PASSWORD_LENGTH} 位")
    lowered = password.lower()
    if username.lower() in lowered:
        raise bad("contains_username", "密码不能包含账号名")
    if lowered in COMMON_PASSWORDS or len(set(password)) <= 2:
        raise bad("too_common", "密码过于常见，请换一个")


# --- reading accounts ---------------------------------------------------------------------------

_COLUMNS = (account_table.c.id, account_table.c.username, account_table.c.display_name,
            account_table.c.role, account_table.c.township_code, account_table.c.scopes,
            account_table.c.grid_codes, account_table.c.must_change_password,
            account_table.c.demo)
# An active account as `Account` reads it.
_ACTIVE = select(*_COLUMNS).where(account_table.c.active)


def row_to_account(row: Row[Any] | Any) -> Account:
    return Account(row.id, row.username, row.display_name, Role(row.role), row.township_code,
                   tuple(row.scopes or ()), tuple(row.grid_codes or ()),
                   bool(row.must_change_password), bool(row.demo))


def get_account(conn: Connection, account_id: int) -> Account | None:
    row = conn.execute(_ACTIVE.where(account_table.c.id == account_id)).first()
    return row_to_account(row) if row else None


def get_account_by_username(conn: Connection, username: str) -> Account | None:
    """The active account with this username, or None."""
    row = conn.execute(_ACTIVE.where(account_table.c.username == username)).first()
    return row_to_account(row) if row else None


def ensure_account(conn: Connection, *, username: str, display_name: str, role: Role,
                   password: str | None, township_code: str | None = None, demo: bool = False,
                   scopes: Sequence[str] = ()) -> bool:
    """Create the account unless it exists (an existing password is never reset); True if new.

    For the demo and the tests: no forced change, no password rules."""
    result = conn.execute(text(
        "INSERT INTO account (username, display_name, role, township_code, password_hash, demo, "
        "scopes) VALUES (:u, :d, :r, :t, :p, :demo, :s) ON CONFLICT (username) DO NOTHING"),
        {"u": username, "d": display_name, "r": role.value, "t": township_code,
         "p": hash_password(password) if password is not None else None, "demo": demo,
         "s": list(scopes)})
    return result.rowcount == 1


def admin_exists(conn: Connection) -> bool:
    return bool(conn.execute(text(
        "SELECT EXISTS (SELECT FROM account WHERE role = 'admin' AND active)")).scalar())


# --- who may manage whom ------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    id: int
    username: str
    role: Role
    township_code: str | None


def _refuse() -> Forbidden:
    return Forbidden("无权管理该账号：乡镇监管员只能管理本乡镇的采集员")


def check_may_manage(actor: Account | None, role: Role, township_code: str | None) -> None:
    """Raise Forbidden unless `actor` may manage an account of this role and township."""
    if actor is None or actor.role == Role.admin:
        return
    if actor.role == Role.township_supervisor:
        if role == Role.collector and township_code == actor.township_code:
            return
        raise _refuse()
    raise Forbidden("只有系统管理员或乡镇监管员可以管理账号")


def _target(conn: Connection, account_id: int) -> Target:
    row = conn.execute(text("SELECT id, username, role, township_code FROM account "
                            "WHERE id = :i"), {"i": account_id}).first()
    if row is None:
        raise NotFound("账号不存在")
    return Target(row.id, row.username, Role(row.role), row.township_code)


def target_by_username(conn: Connection, username: str) -> Target:
    row = conn.execute(text("SELECT id, username, role, township_code FROM account "
                            "WHERE username = :u"), {"u": username}).first()
    if row is None:
        raise NotFound(f"账号 {username} 不存在")
    return Target(row.id, row.username, Role(row.role), row.township_code)


def _managed(conn: Connection, actor: Account | None, account_id: int) -> Target:
    """The target account, when the actor may manage it (404 before 403 would leak nothing
    here: account ids are not secrets, usernames are public)."""
    target = _target(conn, account_id)
    check_may_manage(actor, target.role, target.township_code)
    if actor is not None and actor.id == target.id:
        raise Forbidden("不能用账号管理功能修改自己的账号")
    return target


def _actor_id(actor: Account | None) -> int | None:
    return actor.id if actor is not None else None


# --- management ---------------------------------------------------------------------------------

_LIST = """
SELECT a.id, a.username, a.display_name, a.role, a.township_code, a.active, a.demo,
       a.must_change_password, a.scopes, a.grid_codes, a.created_at, c.username AS created_by,
       a.updated_at, u.username AS updated_by,
       (SELECT max(s.last_seen_at) FROM auth_session s WHERE s.account_id = a.id) AS last_seen_at
FROM account a
LEFT JOIN account c ON c.id = a.created_by
LEFT JOIN account u ON u.id = a.updated_by
WHERE (CAST(:role AS text) IS NULL OR a.role = :role)
  AND (CAST(:township AS text) IS NULL OR a.township_code = :township)
ORDER BY a.township_code NULLS FIRST, a.role, a.username
"""


def list_accounts(conn: Connection, actor: Account | None) -> list[dict[str, Any]]:
    """Accounts the actor manages: all for an administrator, its township's collectors for a
    township supervisor."""
    role: str | None = None
    township: str | None = None
    if actor is not None and actor.role != Role.admin:
        check_may_manage(actor, Role.collector, actor.township_code)
        role, township = Role.collector.value, actor.township_code
    rows = conn.execute(text(_LIST), {"role": role, "township": township}).mappings()
    return [dict(r, role_label=ROLE_LABELS[Role(r["role"])], scopes=list(r["scopes"]),
                 grids=list(r["grid_codes"])) for r in rows]


def _check_grids(conn: Connection, role: Role, township_code: str | None,
                 grids: Sequence[str]) -> list[str]:
    if not grids:
        return []
    if role != Role.collector:
        raise InvalidInput("只有采集员指定网格",
                           [FieldError("grids", "not_allowed", "只有采集员指定网格")])
    found = set(conn.execute(text("SELECT DISTINCT code FROM grid WHERE code = ANY(:g) "
                                  "AND township_code = :t"),
                             {"g": list(grids), "t": township_code}).scalars())
    missing = [g for g in grids if g not in found]
    if missing:
        message = "网格不存在或不在该账号的乡镇内"
        raise InvalidInput(message, [FieldError("grids", "unknown_grid", message)])
    return sorted(set(grids))


def _check_scopes(role: Role, scopes: Sequence[str]) -> list[str]:
    if role != Role.service:
        if scopes:
            message = "只有服务账号设置接口权限"
            raise InvalidInput(message, [FieldError("scopes", "not_allowed", message)])
        return []
    try:
        chosen = sorted({Scope(s).value for s in scopes})
    except ValueError as e:
        message = "接口权限只能是 read 或 collect"
        raise InvalidInput(message, [FieldError("scopes", "invalid_scope", message)]) from e
    if not chosen:
        message = "服务账号至少需要一项接口权限（read 或 collect）"
        raise InvalidInput(message, [FieldError("scopes", "required", message)])
    return chosen


@dataclass
class NewAccount:
    id: int
    username: str
    password: str | None  # shown once; None for a service account (it uses API keys)
    extra: dict[str, Any] = field(default_factory=dict)


def create_account(conn: Connection, actor: Account | None, *, username: str,
                   display_name: str, role: Role, township_code: str | None = None,
                   grids: Sequence[str] = (), scopes: Sequence[str] = (),
                   password: str | None = None) -> NewAccount:
    """A new account. Without `password` one is generated; either way it must be changed at the
    first sign-in. Service accounts have no password."""
    check_may_manage(actor, role, township_code)
    grid_codes = _check_grids(conn, role, township_code, grids)
    chosen_scopes = _check_scopes(role, scopes)
    if role == Role.service:
        password = None
    elif password is None:
        password = generate_password()
    else:
        check_new_password(username, password, "password")
    new_id = conn.execute(text("""
        INSERT INTO account (username, display_name, role, township_code, password_hash,
                             must_change_password, scopes, grid_codes, created_by)
        VALUES (:u, :d, :r, :t, :p, :m, :s, :g, :by) RETURNING id"""),
        {"u": username, "d": display_name, "r": role.value, "t": township_code,
         "p": hash_password(password) if password is not None else None,
         "m": password is not None, "s": chosen_scopes, "g": grid_codes,
         "by": _actor_id(actor)}).scalar_one()
    return NewAccount(new_id, username, password)


def revoke_sessions(conn: Connection, account_id: int, by: int | None, *,
                    keep_session: int | None = None, kinds: Sequence[str] = ("password",)
                    ) -> int:
    """End the account's sessions at once (all but `keep_session`)."""
    return conn.execute(text("""
        UPDATE auth_session SET revoked_at = now(), revoked_by = :by
        WHERE account_id = :a AND revoked_at IS NULL AND kind = ANY(:k)
          AND id IS DISTINCT FROM :keep"""),
        {"a": account_id, "by": by, "keep": keep_session, "k": list(kinds)}).rowcount


def set_active(conn: Connection, actor: Account | None, account_id: int, active: bool) -> None:
    """Disable (ending every session and API key at once) or enable an account."""
    target = _managed(conn, actor, account_id)
    conn.execute(text("UPDATE account SET active = :v, updated_at = now(), updated_by = :by "
                      "WHERE id = :i"), {"v": active, "by": _actor_id(actor), "i": target.id})
    if not active:
        revoke_sessions(conn, target.id, _actor_id(actor), kinds=("password", "api_key"))


def reset_password(conn: Connection, actor: Account | None, account_id: int) -> str:
    """A generated one-time password (returned once), to be changed at the next sign-in; the
    account's sessions end."""
    target = _managed(conn, actor, account_id)
    if target.role == Role.service:
        message = "服务账号没有密码，请使用接口密钥"
        raise InvalidInput(message, [FieldError("role", "no_password", message)])
    password = generate_password()
    conn.execute(text("""
        UPDATE account SET password_hash = :p, must_change_password = true,
                           password_changed_at = now(), updated_at = now(), updated_by = :by
        WHERE id = :i"""), {"p": hash_password(password), "by": _actor_id(actor),
                            "i": target.id})
    revoke_sessions(conn, target.id, _actor_id(actor))
    return password


def set_role(conn: Connection, actor: Account | None, account_id: int, role: Role,
             township_code: str | None) -> None:
    """Change an account's role and township (administrator or CLI): its sessions end."""
    if actor is not None and actor.role != Role.admin:
        raise Forbidden("只有系统管理员可以修改角色")
    target = _managed(conn, actor, account_id)
    if (target.role == Role.service) != (role == Role.service):
        message = "服务账号与个人账号不能互相转换"
        raise InvalidInput(message, [FieldError("role", "not_allowed", message)])
    conn.execute(text("""
        UPDATE account SET role = :r, township_code = :t,
                           grid_codes = CASE WHEN :r = 'collector' AND township_code = :t
                                             THEN grid_codes ELSE '{}' END,
                           updated_at = now(), updated_by = :by
        WHERE id = :i"""), {"r": role.value, "t": township_code, "by": _actor_id(actor),
                            "i": target.id})
    revoke_sessions(conn, target.id, _actor_id(actor), kinds=("password", "api_key"))


def change_password(conn: Connection, account: Account, session_id: int | None,
                    old_password: str, new_password: str) -> None:
    """The signed-in user's own change: the old password checked, the rules applied, every
    other session of the account ended."""
    # the API's role cannot read hashes, only the signed-in account's own (sql/023)
    stored = conn.execute(text("SELECT georeg_own_password_hash()")).scalar()
    if stored is None or not verify_password(stored, old_password):
        message = "原密码不正确"
        raise InvalidInput(message, [FieldError("old_password", "wrong_password", message)])
    check_new_password(account.username, new_password)
    if new_password == old_password:
        message = "新密码不能与原密码相同"
        raise InvalidInput(message, [FieldError("new_password", "unchanged", message)])
    conn.execute(text("""
        UPDATE account SET password_hash = :p, must_change_password = false,
                           password_changed_at = now(), updated_at = now(), updated_by = :i
        WHERE id = :i"""), {"p": hash_password(new_password), "i": account.id})
    revoke_sessions(conn, account.id, account.id, keep_session=session_id)
