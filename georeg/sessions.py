"""Server-side sessions: opaque tokens stored only as their SHA-256, checked in one round trip.

Where a token comes from (a bearer header today, the pages' cookie later) is the interface's
business; `check_session` only checks it. Sign-in reads the hash and the throttle state in a
short transaction, verifies the password with no transaction and no pooled connection held
(bounded by georeg.accounts.HASHING), then records the outcome (and opens the session) in a
second short transaction. The SQL functions are SECURITY DEFINER (sql/019_accounts.sql): the
API's database role has no direct access to the tables behind them.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, text

from georeg.accounts import (
    Account,
    Role,
    check_may_manage,
    dummy_hash,
    row_to_account,
    target_by_username,
    verify_password,
)
from georeg.database import transaction
from georeg.errors import (
    FieldError,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyAttempts,
    Unauthorized,
)

API_KEY_PREFIX = "grk_"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True)
class Session:
    id: int
    kind: str  # password | api_key
    account: Account


def check_session(conn: Connection, token: str) -> Session | None:
    """The session behind a token, or None; sets the request scope for this transaction."""
    if not token or len(token) > 200:
        return None
    row = conn.execute(text("SELECT * FROM georeg_session_account(:h)"),
                       {"h": token_hash(token)}).first()
    if row is None:
        return None
    return Session(row.session_id, row.kind, row_to_account(row))


def revoke_current(conn: Connection) -> None:
    """Sign out: the session check_session found in this transaction."""
    conn.execute(text("SELECT georeg_session_revoke_current()"))


# --- sign-in ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class LoginPolicy:
    free_failures: int = 5
    max_delay_s: int = 30
    lock_after: int = 10
    lock_s: int = 15 * 60
    idle_s: int = 60 * 60
    absolute_s: int = 8 * 60 * 60


@dataclass(frozen=True)
class SignedIn:
    token: str
    expires_in: int
    must_change_password: bool


def client_class(address: str) -> str:
    """What kind of network a sign-in came from; the address itself is not stored."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "unknown"
    if ip.is_loopback:
        return "loopback"
    return "private" if ip.is_private else "public"


def _wait(seconds: int) -> TooManyAttempts:
    return TooManyAttempts(f"登录失败次数过多，请 {seconds} 秒后再试", retry_after=seconds)


def sign_in(engine: Engine, username: str, password: str, client: str,
            policy: LoginPolicy) -> SignedIn:
    """A new password session, or Unauthorized / TooManyAttempts (429 with a wait)."""
    username = username.strip()[:64]
    with transaction(engine) as conn:
        state = conn.execute(text("SELECT * FROM georeg_login_state(:u, :c)"),
                             {"u": username, "c": client}).one()
    if state.retry_after_s > 0:
        raise _wait(state.retry_after_s)
    # An unknown, disabled or service account costs the same check as a wrong password.
    ok = verify_password(state.password_hash or dummy_hash(), password)
    ok = ok and state.password_hash is not None
    token = new_token()
    with transaction(engine) as conn:
        if not ok:
            waiting = conn.execute(text(
                "SELECT georeg_login_failed(:u, :c, :free, :max_delay, :lock_after, :lock_s)"),
                {"u": username, "c": client, "free": policy.free_failures,
                 "max_delay": policy.max_delay_s, "lock_after": policy.lock_after,
                 "lock_s": policy.lock_s}).scalar_one()
        else:
            session_id = conn.execute(text(
                "SELECT georeg_login_succeeded(:u, :c, :a, :h, :idle, :abs, :cls)"),
                {"u": username, "c": client, "a": state.account_id, "h": token_hash(token),
                 "idle": policy.idle_s, "abs": policy.absolute_s,
                 "cls": client_class(client)}).scalar_one()
    if not ok:
        # the lock starts with this failure: say so now rather than at the next attempt
        if waiting >= policy.lock_s:
            raise _wait(waiting)
        raise Unauthorized("账号或密码错误")
    if session_id is None:  # disabled between the two transactions
        raise Unauthorized("账号或密码错误")
    return SignedIn(token, policy.absolute_s, bool(state.must_change_password))


# --- API keys -----------------------------------------------------------------------------------

def create_api_key(conn: Connection, actor: Account | None, username: str,
                   label: str | None = None) -> tuple[int, str]:
    """A new key for a service account: (its id, the key, shown once; only its hash is kept)."""
    if actor is not None and actor.role != Role.admin:
        raise_forbidden()
    target = target_by_username(conn, username)
    if target.role != Role.service:
        message = "接口密钥只发给服务账号"
        raise InvalidInput(message, [FieldError("account", "not_service", message)])
    check_may_manage(actor, target.role, target.township_code)
    key = API_KEY_PREFIX + new_token()
    key_id = conn.execute(text("""
        INSERT INTO auth_session (account_id, token_hash, kind, label, created_by)
        VALUES (:a, :h, 'api_key', :l, :by) RETURNING id"""),
        {"a": target.id, "h": token_hash(key), "l": label,
         "by": actor.id if actor else None}).scalar_one()
    return key_id, key


def raise_forbidden() -> None:
    raise Forbidden("只有系统管理员可以管理接口密钥")


def list_api_keys(conn: Connection, actor: Account | None) -> list[dict[str, Any]]:
    if actor is not None and actor.role != Role.admin:
        raise_forbidden()
    rows = conn.execute(text("""
        SELECT s.id, a.username AS account, s.label, s.created_at, c.username AS created_by,
               s.last_seen_at, s.revoked_at, a.scopes, a.township_code, a.active
        FROM auth_session s JOIN account a ON a.id = s.account_id
        LEFT JOIN account c ON c.id = s.created_by
        WHERE s.kind = 'api_key' ORDER BY s.id""")).mappings()
    return [dict(r, scopes=list(r["scopes"])) for r in rows]


def revoke_api_key(conn: Connection, actor: Account | None, key_id: int) -> None:
    if actor is not None and actor.role != Role.admin:
        raise_forbidden()
    found = conn.execute(text("""
        UPDATE auth_session SET revoked_at = coalesce(revoked_at, now()),
                                revoked_by = coalesce(revoked_by, :by)
        WHERE id = :i AND kind = 'api_key' RETURNING id"""),
        {"i": key_id, "by": actor.id if actor else None}).first()
    if found is None:
        raise NotFound("接口密钥不存在")


def trusted_networks(setting: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """GEOREG_TRUSTED_PROXIES: addresses or networks, separated by commas or spaces."""
    return [ipaddress.ip_network(p.strip(), strict=False)
            for p in setting.replace(",", " ").split() if p.strip()]


def client_address(peer: str | None, forwarded_for: str | None,
                   trusted: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy, then the last
    X-Forwarded-For hop that is not one (clients can write the header's left part)."""
    peer = peer or "unknown"

    def is_trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in trusted)

    if not forwarded_for or not is_trusted(peer):
        return peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        if not is_trusted(hop):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer
    return peer
