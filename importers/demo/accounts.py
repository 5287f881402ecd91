"""The demo's accounts: attachment 3's township accounts and one account per role.

Only the demo creates them (`georeg demo-accounts`, `make demo`) and the tests' template, with
one shared password: marked demo, and exempt from the forced first change. A real county starts
from `georeg init` instead.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from georeg.accounts import Role, Scope, ensure_account

CANNEI = "350524113000"  # 参内镇 (attachment 3's account cnx05)

# username, display name, role, township; one per role beside the township supervisors
ROLE_ACCOUNTS: tuple[tuple[str, str, Role, str | None], ...] = (
    ("admin", "系统管理员", Role.admin, None),
    ("county01", "县农安中心监管员", Role.county_supervisor, None),
    ("clerk01", "信用管理员", Role.credit_clerk, None),
    ("col05", "参内镇采集员", Role.collector, CANNEI),
)
SERVICE_ACCOUNT = "svc01"  # reads county-wide; an administrator gives it API keys


def create_demo_accounts(conn: Connection, password: str) -> int:
    """Create the demo accounts that do not exist yet (existing passwords are kept); how many."""
    created = 0
    for username, name, role, township in ROLE_ACCOUNTS:
        created += ensure_account(conn, username=username, display_name=name, role=role,
                                  password=password, township_code=township, demo=True)
    townships = conn.execute(text("SELECT code, name, account FROM township "
                                  "WHERE account IS NOT NULL ORDER BY code")).all()
    for t in townships:
        created += ensure_account(conn, username=t.account, display_name=f"{t.name}农安站",
                                  role=Role.township_supervisor, password=password,
                                  township_code=t.code, demo=True)
    created += ensure_account(conn, username=SERVICE_ACCOUNT, display_name="演示对接系统",
                              role=Role.service, password=None, demo=True,
                              scopes=(Scope.read.value,))
    return created
