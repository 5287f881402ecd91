"""Sign-in that cannot be guessed or flooded: per (username, client) delays and locks kept in
PostgreSQL, trusted proxies, the cost of an unknown user, and pool exhaustion as a 503."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from georeg.config import Settings
from georeg.sessions import client_address, trusted_networks
from tests.conftest import TEST_PASSWORD

PROXY = "10.0.0.1"


@pytest.fixture
def strict(settings: Settings) -> Settings:
    # two free failures, then 1 s, 2 s, then a lock of 15 minutes at the fifth
    return settings.model_copy(update={
        "login_free_failures": 2, "login_max_delay_seconds": 30, "login_lock_after": 5,
        "login_lock_minutes": 15, "trusted_proxies": f"{PROXY}, 192.168.9.0/24"})


@pytest.fixture
def app_client(strict: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(strict), client=("198.51.100.7", 40000)) as c:
        yield c


def attempt(c: TestClient, username: str, password: str,
            forwarded: str | None = None) -> tuple[int, str | None, str]:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    r = c.post("/api/v1/auth/token", data={"username": username, "password": password},
               headers=headers)
    if r.status_code == 429:
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "too_many_attempts"
    return r.status_code, r.headers.get("retry-after"), r.text


def wait_over(engine: Engine) -> None:
    """Let the current wait pass (as the owner), instead of sleeping through it."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE login_attempt SET blocked_until = now()"))


def test_failures_slow_down_then_lock_and_a_success_resets(app_client: TestClient,
                                                           engine: Engine) -> None:
    c = app_client
    assert attempt(c, "cnx05", "wrong-1")[0] == 401
    assert attempt(c, "cnx05", "wrong-2")[0] == 401
    assert attempt(c, "cnx05", "wrong-3")[0] == 401  # the third failure starts a 1 s wait
    status, retry, _ = attempt(c, "cnx05", TEST_PASSWORD)  # even the right password waits
    assert (status, retry) == (429, "1")
    wait_over(engine)
    assert attempt(c, "cnx05", "wrong-4")[0] == 401
    assert attempt(c, "cnx05", TEST_PASSWORD)[:2] == (429, "2")  # the wait doubles
    wait_over(engine)
    status, retry, body = attempt(c, "cnx05", "wrong-5")  # the fifth locks
    assert status == 429 and int(retry or 0) == 15 * 60 and "秒后再试" in body
    status, retry, _ = attempt(c, "cnx05", TEST_PASSWORD)
    assert status == 429 and 15 * 60 - 5 <= int(retry or 0) <= 15 * 60
    # a header the client writes itself changes nothing (the peer is no trusted proxy)
    assert attempt(c, "cnx05", TEST_PASSWORD, forwarded="203.0.113.9")[0] == 429
    # the pair is locked, not the account: another user from here, or cnx05 elsewhere, sign in
    assert attempt(c, "fcz01", TEST_PASSWORD)[0] == 200
    with TestClient(c.app, client=("198.51.100.8", 40000)) as elsewhere:
        assert attempt(elsewhere, "cnx05", TEST_PASSWORD)[0] == 200
    # several workers agree: the state is in the database
    with engine.connect() as conn:
        row = conn.execute(text("SELECT failures, blocked_until > now() AS blocked "
                                "FROM login_attempt WHERE username = 'cnx05'")).one()
    assert row.failures == 5 and row.blocked
    wait_over(engine)
    assert attempt(c, "cnx05", TEST_PASSWORD)[0] == 200
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM login_attempt")).scalar() == 0


def test_unknown_users_are_throttled_alike(app_client: TestClient) -> None:
    for _ in range(3):
        assert attempt(app_client, "nobody", "wrong")[0] == 401
    assert attempt(app_client, "nobody", "wrong")[:2] == (429, "1")


def test_a_trusted_proxy_names_the_client(strict: Settings, engine: Engine) -> None:
    with TestClient(create_app(strict), client=(PROXY, 40000)) as c:
        for i in range(3):
            assert attempt(c, "cnx05", f"wrong-{i}", forwarded="203.0.113.5")[0] == 401
        assert attempt(c, "cnx05", TEST_PASSWORD, forwarded="203.0.113.5")[0] == 429
        # another client behind the same proxy is not held up
        assert attempt(c, "cnx05", TEST_PASSWORD, forwarded="203.0.113.6")[0] == 200
    with engine.connect() as conn:
        clients = conn.execute(text("SELECT client FROM login_attempt")).scalars().all()
    assert clients == ["203.0.113.5"]


def test_client_address_rules() -> None:
    trusted = trusted_networks("10.0.0.1, 192.168.9.0/24")
    assert client_address("198.51.100.7", "1.2.3.4", trusted) == "198.51.100.7"
    assert client_address("10.0.0.1", "1.2.3.4", trusted) == "1.2.3.4"
    # the client can write the left part; the last hop not a proxy is the one a proxy saw
    assert client_address("10.0.0.1", "6.6.6.6, 1.2.3.4, 192.168.9.20", trusted) == "1.2.3.4"
    assert client_address("10.0.0.1", "not-an-address", trusted) == "10.0.0.1"
    assert client_address("10.0.0.1", None, trusted) == "10.0.0.1"


def test_an_unknown_user_costs_what_a_wrong_password_costs(settings: Settings) -> None:
    # Loose bound, comparing the two in one run: an unknown user must not answer much faster.
    with TestClient(create_app(settings), client=("198.51.100.10", 40000)) as c:
        def timed(username: str, i: int) -> float:
            started = time.perf_counter()
            r = c.post("/api/v1/auth/token",
                       data={"username": username, "password": f"wrong-{i}"})
            assert r.status_code == 401
            return time.perf_counter() - started
        known, unknown = [], []
        for i in range(4):  # the default policy has five free failures per pair
            known.append(timed("admin", i))
            unknown.append(timed("nosuchuser", i))
    assert statistics.median(unknown) > 0.6 * statistics.median(known), (known, unknown)


def test_pool_exhaustion_answers_503(settings: Settings) -> None:
    tight = settings.model_copy(update={"pool_size": 1, "pool_timeout": 0.3})
    with TestClient(create_app(tight)) as c:
        token = c.post("/api/v1/auth/token",
                       data={"username": "admin", "password": TEST_PASSWORD}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        held = c.app.state.engine.connect()  # the pool's only connection
        try:
            for r in (c.get("/api/v1/auth/me", headers=headers),
                      c.post("/api/v1/auth/token",
                             data={"username": "admin", "password": TEST_PASSWORD})):
                assert r.status_code == 503, r.text
                assert r.headers["content-type"].startswith("application/problem+json")
                assert r.headers["retry-after"] == "5" and r.json()["code"] == "server_busy"
        finally:
            held.close()
        assert c.get("/api/v1/auth/me", headers=headers).status_code == 200


def test_a_full_sign_in_queue_turns_sign_ins_away_at_once(settings: Settings) -> None:
    """Sign-ins waiting for the password check are bounded: beyond the queue, 503 at once,
    not a worker thread held behind the others (georeg.accounts.HASH_QUEUE)."""
    from georeg import accounts

    taken = 0
    with TestClient(create_app(settings), client=("198.51.100.20", 40000)) as c:
        try:
            while accounts._queue.acquire(blocking=False):  # every place in the queue
                taken += 1
            r = c.post("/api/v1/auth/token", data={"username": "admin", "password": TEST_PASSWORD})
            assert r.status_code == 503 and r.json()["code"] == "server_busy", r.text
            assert r.headers["retry-after"] == "2"
        finally:
            for _ in range(taken):
                accounts._queue.release()
        assert taken == accounts.HASH_QUEUE + 2
        r = c.post("/api/v1/auth/token", data={"username": "admin", "password": TEST_PASSWORD})
        assert r.status_code == 200, r.text
