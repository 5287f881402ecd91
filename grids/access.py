"""Who may change boundaries and grids: one place for each action's rule.

The command line runs these actions as the machine's operator; the API checks the signed-in
account here before calling grids.boundaries, grids.generate, grids.reassign or grids.staff.
"""

from __future__ import annotations

from georeg.accounts import Account, Role
from georeg.errors import Forbidden

COUNTY_ROLES = frozenset({Role.admin, Role.county_supervisor})


def check_may_manage(account: Account) -> None:
    """Boundaries, generation and re-assignment change the whole county's map."""
    if account.role not in COUNTY_ROLES:
        raise Forbidden("只有县级监管员或管理员可以修改边界和网格")


def check_may_staff(account: Account, township_code: str) -> None:
    """A grid's people are set by its township's supervisors (or the county), never a collector."""
    if not account.may_write(township_code) or account.role == Role.collector:
        raise Forbidden("该网格不在本账号的管辖范围内")
