"""Who may do what with sampling plans: every permission rule of the package, in one place.

Planning: county supervisors and administrators anywhere, township supervisors within their
township. Reading: every signed-in account; a township account sees only its township (the
plans that touch it, and only its targets). Changing a target's status: the roles that write
to the registry, within their scope (`Account.may_write`).
"""

from __future__ import annotations

from georeg.accounts import Account, Role
from georeg.errors import Forbidden

PLAN_ROLES = frozenset({Role.county_supervisor, Role.admin, Role.township_supervisor})


def township_scope(account: Account | None) -> str | None:
    """The township an account is limited to, for planning and reading alike (None: the whole
    county; `account` None is the command line's administrator)."""
    return None if account is None or account.county_wide else account.township_code


def planning_scope(account: Account | None) -> str | None:
    """The township a plan must lie in (None: anywhere); refuses roles that do not plan."""
    if account is not None and account.role not in PLAN_ROLES:
        raise Forbidden("本账号无权制定抽样计划（限县级监管员、系统管理员和乡镇监管员）")
    return township_scope(account)


def may_change_target(account: Account, township_code: str) -> bool:
    """Whether `account` may set the status of a target in `township_code`."""
    return account.may_write(township_code)
