"""China Standard Time: days, months, quarters and deadlines. The clock is injectable for tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

CST = ZoneInfo("Asia/Shanghai")

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(CST)


def fixed_clock(moment: datetime) -> Clock:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=CST)
    return lambda: aware


def today(clock: Clock = system_clock) -> date:
    return clock().astimezone(CST).date()


def quarter(day: date) -> int:
    return (day.month - 1) // 3 + 1
