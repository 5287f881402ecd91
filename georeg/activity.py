"""Patrols (daily online and field inspections) and compliance certificates with trace codes.

Batches are checked as a whole first (unknown entities, dates in the future, scope), each
problem named by its record number; then stored in one set-based INSERT, all or nothing.
`insert_batch` is that INSERT for every batch the kernel stores (testing results and MRL rows
too), composed with psycopg.sql from identifiers and parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from psycopg import sql
from sqlalchemy import Connection, text

from georeg.accounts import Account
from georeg.clock import CST
from georeg.errors import FieldError, Forbidden, InvalidInput

MAX_BATCH = 5000


def _record_error(record: int, field: str, code: str, message: str) -> FieldError:
    return FieldError(f"[{record}].{field}", code, f"第 {record} 条：{message}")


def _numbers(rows: list[dict[str, Any]]) -> list[int]:
    """How the user counts the records: a file row's number, else the position in the batch."""
    return [r.pop("_row", i) for i, r in enumerate(rows, start=1)]


def _check_entities(conn: Connection, rows: list[dict[str, Any]], numbers: list[int],
                    account: Account, errors: list[FieldError]) -> None:
    ids = sorted({r["entity_id"] for r in rows})
    known = {r.id: r for r in conn.execute(text(
        "SELECT id, township_code, kind, deregistered_on FROM entity WHERE id = ANY(:ids)"),
        {"ids": ids})}
    # an entity row security hides from the account exists elsewhere: out of scope, not
    # unknown (a definer function answers existence only, sql/022)
    unseen = [i for i in ids if i not in known]
    hidden = set(conn.execute(text("SELECT entities_existing(CAST(:ids AS bigint[]))"),
                              {"ids": unseen}).scalars()) if unseen else set()
    for i, r in zip(numbers, rows, strict=True):
        entity = known.get(r["entity_id"])
        if entity is None and r["entity_id"] in hidden:
            errors.append(_record_error(i, "entity_id", "out_of_scope",
                                        "该主体不在本账号的管辖乡镇"))
        elif entity is None:
            errors.append(_record_error(i, "entity_id", "unknown_entity", "主体不存在"))
        elif not account.may_write(entity.township_code):
            errors.append(_record_error(i, "entity_id", "out_of_scope",
                                        "该主体不在本账号的管辖乡镇"))
        elif entity.deregistered_on is not None:
            field, day = _activity_day(r)
            if day is not None and day > entity.deregistered_on:
                # the database refuses it too (sql/020); here each record is named
                errors.append(_record_error(
                    i, field, "entity_deregistered",
                    f"该主体已于 {entity.deregistered_on.isoformat()} 注销，不能登记此后的记录"))


def _activity_day(r: dict[str, Any]) -> tuple[str, date | None]:
    """The field and China Standard Time day of an activity record (patrol, certificate, test)."""
    for field in ("patrolled_at", "issued_on", "sampled_on"):
        value = r.get(field)
        if isinstance(value, datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=CST)
            return field, aware.astimezone(CST).date()
        if isinstance(value, date):
            return field, value
    return "entity_id", None


def _check_batch(conn: Connection, rows: list[dict[str, Any]], account: Account, what: str,
                 row_check: Callable[[int, dict[str, Any], list[FieldError]], None]) -> None:
    """Scope, entities and each row's own check, all reported at once; nothing stored if any."""
    if not account.writes:
        raise Forbidden(f"本账号不能登记{what}")
    errors: list[FieldError] = []
    numbers = _numbers(rows)
    _check_entities(conn, rows, numbers, account, errors)
    for i, r in zip(numbers, rows, strict=True):
        row_check(i, r, errors)
    if errors:
        raise InvalidInput(f"{len(errors)} 处错误，本批未保存", errors)


def record_patrols(conn: Connection, rows: list[dict[str, Any]], *, account: Account,
                   today: date) -> list[int]:
    """Store patrols; a time without offset is China Standard Time."""
    def check(i: int, r: dict[str, Any], errors: list[FieldError]) -> None:
        moment: datetime = r["patrolled_at"]
        if moment.tzinfo is None:
            r["patrolled_at"] = moment = moment.replace(tzinfo=CST)
        if moment.astimezone(CST).date() > today:
            errors.append(_record_error(i, "patrolled_at", "in_future", "巡查时间不能晚于今天"))
        if r.get("result") == "problem" and not r.get("findings"):
            errors.append(_record_error(i, "findings", "required", "发现问题时须填写问题描述"))

    _check_batch(conn, rows, account, "巡查", check)
    columns = ("entity_id", "inspector", "kind", "patrolled_at", "result", "findings",
               "follow_up", "follow_up_due", "external_id")
    return insert_batch(conn, "patrol", columns, rows, conflict_columns=("external_id",),
                        extra={"account_id": account.id})


def record_certificates(conn: Connection, rows: list[dict[str, Any]], *, account: Account,
                        today: date) -> list[int]:
    def check(i: int, r: dict[str, Any], errors: list[FieldError]) -> None:
        if r["issued_on"] > today:
            errors.append(_record_error(i, "issued_on", "in_future", "开证日期不能晚于今天"))

    _check_batch(conn, rows, account, "合格证", check)
    columns = ("entity_id", "batch_no", "issued_on", "commodity", "quantity", "unit",
               "trace_code")
    return insert_batch(conn, "certificate", columns, rows,
                        conflict_columns=("entity_id", "batch_no"))


# Each column's type as schema and name (identifiers, no type text spliced); the typmod is left
# to the INSERT's assignment cast, which rounds and checks as an explicit cast to it would.
_COLUMN_TYPES = text("""
    SELECT a.attname, n.nspname, t.typname
    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
    JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE a.attrelid = CAST(:t AS regclass) AND a.attnum > 0 AND NOT a.attisdropped""")


def insert_batch(conn: Connection, table: str, columns: tuple[str, ...],
                 rows: list[dict[str, Any]], *, conflict_columns: tuple[str, ...] = (),
                 conflict_constraint: str | None = None,
                 extra: dict[str, Any] | None = None) -> list[int]:
    """Store `rows` in one INSERT ... SELECT FROM unnest(...) (not one round trip a row); the
    ids of the rows stored. `extra`: a value every row gets. A row that conflicts on the unique
    index of `conflict_columns` or on `conflict_constraint` is skipped (DO NOTHING).

    Composed with psycopg.sql: table, columns and types as identifiers, values as parameters."""
    types = {r.attname: sql.Identifier(r.nspname, r.typname)
             for r in conn.execute(_COLUMN_TYPES, {"t": table})}
    extra = extra or {}
    arrays = sql.SQL(", ").join(sql.SQL("CAST({} AS {}[])").format(sql.Placeholder(c), types[c])
                                for c in columns)
    values = [*(sql.Identifier("u", c) for c in columns), *map(sql.Placeholder, extra)]
    if conflict_constraint is not None:
        on_conflict = sql.SQL("ON CONFLICT ON CONSTRAINT {} DO NOTHING").format(
            sql.Identifier(conflict_constraint))
    elif conflict_columns:
        on_conflict = sql.SQL("ON CONFLICT ({}) DO NOTHING").format(
            sql.SQL(", ").join(map(sql.Identifier, conflict_columns)))
    else:
        on_conflict = sql.SQL("")
    statement = sql.SQL(
        "INSERT INTO {table} ({names}) SELECT {values} FROM unnest({arrays}) AS u({columns}) "
        "{on_conflict} RETURNING id").format(
        table=sql.Identifier(table),
        names=sql.SQL(", ").join(map(sql.Identifier, (*columns, *extra))),
        values=sql.SQL(", ").join(values), arrays=arrays,
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)), on_conflict=on_conflict)
    params = {c: [r.get(c) for r in rows] for c in columns} | extra
    raw = conn.connection.driver_connection
    return list(conn.exec_driver_sql(statement.as_string(raw), params).scalars())
