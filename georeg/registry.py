"""The registry's data access: producers, buyers and smallholders (one id space) and plots.

Plain functions composing SQLAlchemy Core over georeg.tables (bound parameters throughout);
PostGIS does the spatial work. Inputs arrive as plain dicts already shaped by the API; personal
numbers are validated, hashed and encrypted here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cache
from typing import Any

import shapely
from psycopg import sql
from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    LargeBinary,
    Select,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    delete,
    distinct,
    exists,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by

from georeg.accounts import Account, Role
from georeg.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from georeg.geometry import parse, to_ewkb
from georeg.ids import IdentifierError, normalize_phone, normalize_resident_id, normalize_uscc
from georeg.pii import PiiCipher, mask_phone, mask_resident_id, record_pii_access
from georeg.tables import commodity, entity, grid, plot, township


class Kind(StrEnum):
    enterprise = "enterprise"
    cooperative = "cooperative"
    family_farm = "family_farm"
    large_grower = "large_grower"
    buyer = "buyer"
    smallholder = "smallholder"


KIND_LABELS = {
    Kind.enterprise: "企业", Kind.cooperative: "合作社", Kind.family_farm: "家庭农场",
    Kind.large_grower: "种养大户", Kind.buyer: "收购商", Kind.smallholder: "有销售农产品的农户",
}
PRODUCER_KINDS = (Kind.enterprise, Kind.cooperative, Kind.family_farm, Kind.large_grower,
                  Kind.buyer)

class Status(StrEnum):
    active = "active"
    deregistered = "deregistered"
    all = "all"


STATUS_LABELS = {Status.active: "在册", Status.deregistered: "已注销"}

# Kinds that must carry a USCC: registered organisations.
USCC_REQUIRED = (Kind.enterprise, Kind.cooperative)

# Aliases as in the SQL they render to; `p`/`pg` serve the correlated plot subqueries.
_e, _t, _g, _p, _pg = (entity.alias("e"), township.alias("t"), grid.alias("g"),
                       plot.alias("p"), grid.alias("pg"))
_c = commodity.alias("c")


def _geojson(geom: ColumnElement[Any]) -> ColumnElement[Any]:
    return cast(func.ST_AsGeoJSON(geom, 7), JSON)


def _entity_select() -> Select[Any]:
    plots_of_entity = _p.c.entity_id == _e.c.id
    commodities = func.array_agg(aggregate_order_by(distinct(_p.c.commodity), _p.c.commodity))
    return (
        select(
            _e.c.id, _e.c.kind, _e.c.name, _e.c.uscc, _e.c.legal_representative,
            _e.c.contact_name, _e.c.resident_id_masked, _e.c.phone_masked, _e.c.village,
            _e.c.address, _e.c.township_code, _t.c.name.label("township_name"), _e.c.grid_id,
            _g.c.code.label("grid_code"), _g.c.name.label("grid_name"), _e.c.key_supervision,
            _e.c.registered_on, _e.c.deregistered_on, _e.c.deregistration_reason,
            _e.c.created_at, _e.c.updated_at, _geojson(_e.c.location).label("geometry"),
            select(func.count()).select_from(_p).where(plots_of_entity)
            .scalar_subquery().label("plot_count"),
            select(func.coalesce(commodities, literal_column("'{}'")))
            .select_from(_p).where(plots_of_entity).scalar_subquery().label("commodities"),
        )
        .select_from(_e.join(_t, _t.c.code == _e.c.township_code)
                     .outerjoin(_g, _g.c.id == _e.c.grid_id))
    )


def _plot_select() -> Select[Any]:
    return (
        select(_p.c.id, _p.c.entity_id, _p.c.commodity, _c.c.name_zh.label("commodity_name"),
               _p.c.name, _p.c.area_mu, _p.c.township_code, _p.c.grid_id,
               _g.c.code.label("grid_code"), _p.c.retired_on, _p.c.retirement_reason,
               _p.c.created_at, _p.c.updated_at,
               _geojson(_p.c.geom).label("geometry"))
        .select_from(_p.join(_c, _c.c.slug == _p.c.commodity)
                     .outerjoin(_g, _g.c.id == _p.c.grid_id))
    )


def _kind_in(kinds: tuple[str, ...]) -> ColumnElement[bool]:
    return _e.c.kind == any_(literal(list(kinds), ARRAY(Text)))


@dataclass(frozen=True)
class EntityFilter:
    kinds: tuple[str, ...]
    township: str | None = None
    grid: str | None = None
    commodity: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    q: str | None = None
    status: str = "active"  # active | deregistered | all


def _plot_exists(*conditions: ColumnElement[bool], join_grid: bool = False) -> ColumnElement[bool]:
    """EXISTS a plot of the outer query's entity `e` meeting `conditions`."""
    plots = _p.join(_pg, _pg.c.id == _p.c.grid_id) if join_grid else _p
    return exists().select_from(plots).where(_p.c.entity_id == _e.c.id, *conditions)


def _where(f: EntityFilter) -> ColumnElement[bool]:
    """The filter over `e` (entity) and `g` (its grid, outer-joined)."""
    clauses = [_kind_in(f.kinds)]
    if f.status == Status.active:
        clauses.append(_e.c.deregistered_on.is_(None))
    elif f.status == Status.deregistered:
        clauses.append(_e.c.deregistered_on.is_not(None))
    if f.township:
        clauses.append(_e.c.township_code == f.township)
    if f.grid:
        clauses.append(or_(_g.c.code == f.grid,
                           _plot_exists(_pg.c.code == f.grid, join_grid=True)))
    if f.commodity:
        clauses.append(_plot_exists(_p.c.commodity == f.commodity))
    if f.bbox:
        # The entity's main site or any of its plots in the box.
        x0, y0, x1, y1 = f.bbox
        box = func.ST_MakeEnvelope(x0, y0, x1, y1, 4326)
        clauses.append(or_(_e.c.location.op("&&", is_comparison=True)(box),
                           _plot_exists(func.ST_Intersects(_p.c.geom, box))))
    if f.q:
        clauses.append(_e.c.name.ilike(
            "%" + f.q.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"))
    return and_(*clauses)


def list_entities(conn: Connection, f: EntityFilter, *, limit: int, offset: int
                  ) -> tuple[int, list[Any]]:
    where = _where(f)
    total = conn.execute(
        select(func.count()).select_from(_e.outerjoin(_g, _g.c.id == _e.c.grid_id)).where(where)
    ).scalar_one()
    rows = conn.execute(
        _entity_select().where(where).order_by(_e.c.id).limit(limit).offset(offset)).all()
    return total, rows


@cache
def _entity_by_id() -> Select[Any]:
    """One entity by :entity_id among :kinds, built once: a read by id is the registry's most
    frequent call, and building and hashing the statement anew cost a sixth of its time."""
    return _entity_select().where(
        _e.c.id == bindparam("entity_id"),
        _e.c.kind == any_(bindparam("kinds", type_=ARRAY(Text))))


def get_entity(conn: Connection, entity_id: int, kinds: tuple[str, ...] = tuple(Kind)) -> Any:
    row = conn.execute(_entity_by_id(), {"entity_id": entity_id, "kinds": list(kinds)}).first()
    if row is None:
        raise NotFound(f"主体 {entity_id} 不存在",
                       [FieldError("entity_id", "not_found", "主体不存在")])
    return row


def _identifier(errors: list[FieldError], field: str, fn: Any, value: str) -> str | None:
    try:
        return fn(value)
    except IdentifierError as e:
        errors.append(FieldError(field, e.code, e.message))
        return None


def _from_ewkb(value: bytes) -> ColumnElement[Any]:
    """A geometry bound as EWKB (georeg.geometry.to_ewkb), as the API delivers it."""
    return func.ST_GeomFromEWKB(literal(value, LargeBinary))


def _township_of(conn: Connection, point: shapely.Geometry) -> str | None:
    return conn.execute(
        select(township.c.code)
        .where(func.ST_Intersects(township.c.boundary, _from_ewkb(to_ewkb(point))))
        .order_by(township.c.code).limit(1)).scalar()


def _values(cols: dict[str, Any], geometry: str) -> dict[str, Any]:
    """Column values for INSERT/UPDATE, the geometry column's EWKB through ST_GeomFromEWKB."""
    return {n: _from_ewkb(v) if n == geometry else v for n, v in cols.items()}


def _columns(data: dict[str, Any], cipher: PiiCipher,
             errors: list[FieldError]) -> dict[str, Any]:
    """Validated column values for the fields present in `data`."""
    cols: dict[str, Any] = {}
    for plain in ("name", "legal_representative", "contact_name", "village", "address",
                  "key_supervision"):
        if plain in data:
            value = data[plain]
            cols[plain] = value.strip() if isinstance(value, str) else value
    if "name" in cols and not cols["name"]:
        errors.append(FieldError("name", "required", "名称不能为空"))
    if data.get("uscc") is not None:
        cols["uscc"] = _identifier(errors, "uscc", normalize_uscc, data["uscc"])
    elif "uscc" in data:
        cols["uscc"] = None
    for field, fn, mask in (("resident_id", normalize_resident_id, mask_resident_id),
                            ("phone", normalize_phone, mask_phone)):
        if field not in data:
            continue
        if data[field] is None:
            cols.update({f"{field}_hash": None, f"{field}_enc": None, f"{field}_masked": None})
            continue
        value = _identifier(errors, field, fn, data[field])
        if value is not None:
            cols.update({f"{field}_hash": cipher.lookup_hash(field, value),
                         f"{field}_enc": cipher.encrypt(field, value),
                         f"{field}_masked": mask(value)})
    if "location" in data:
        try:
            cols["location"] = to_ewkb(parse(data["location"], field="location",
                                             allowed=("Point",)))
        except InvalidInput as e:
            errors.extend(e.errors)
    if "township_code" in data:
        cols["township_code"] = data["township_code"]
    return cols


def _resolve_township(conn: Connection, cols: dict[str, Any], account: Account) -> None:
    """Fill in the township from the location when not given; enforce the account's scope."""
    if cols.get("township_code") is None and "location" in cols:
        point = shapely.from_wkb(cols["location"])
        cols["township_code"] = _township_of(conn, point)
        if cols["township_code"] is None:
            msg = "位置不在任何已登记乡镇范围内"
            raise InvalidInput(msg, [FieldError("location", "outside_all_townships", msg)])
    code = cols.get("township_code")
    if code is not None and not account.may_write(code):
        msg = "该乡镇不在本账号的管辖范围内"
        raise Forbidden(msg, [FieldError("township_code", "out_of_scope", msg)])


def create_entity(conn: Connection, data: dict[str, Any], *, kind: Kind, account: Account,
                  cipher: PiiCipher) -> int:
    errors: list[FieldError] = []
    cols = _columns(data, cipher, errors)
    if kind in USCC_REQUIRED and not data.get("uscc"):
        errors.append(FieldError("uscc", "required", "企业和合作社须填写统一社会信用代码"))
    if kind == Kind.smallholder and not data.get("resident_id"):
        errors.append(FieldError("resident_id", "required", "农户须填写身份证号"))
    if errors:
        raise InvalidInput("提交的数据有误", errors)
    _resolve_township(conn, cols, account)
    cols.update(kind=kind.value, created_by=account.id)
    return conn.execute(insert(entity).values(_values(cols, "location"))
                        .returning(entity.c.id)).scalar_one()


def update_entity(conn: Connection, entity_id: int, data: dict[str, Any], *,
                  kinds: tuple[str, ...], account: Account, cipher: PiiCipher) -> None:
    current = get_entity(conn, entity_id, kinds)
    if not account.may_write(current.township_code):
        raise Forbidden("该主体不在本账号的管辖范围内")
    errors: list[FieldError] = []
    cols = _columns(data, cipher, errors)
    if errors:
        raise InvalidInput("提交的数据有误", errors)
    if "location" in cols and "township_code" not in data:
        cols["township_code"] = None  # a moved site may move the entity to another township
    _resolve_township(conn, cols, account)
    if not cols:
        return
    conn.execute(update(entity).where(entity.c.id == entity_id)
                 .values(_values(cols, "location")))


def _check_closing_day(conn: Connection, on: date, reason: str, earliest: date | None,
                       earliest_message: str) -> str:
    """The day and reason of a deregistration or retirement, checked; the reason stripped."""
    errors: list[FieldError] = []
    reason = reason.strip()
    if not reason:
        errors.append(FieldError("reason", "required", "须填写注销原因"))
    today = conn.execute(select(func.georeg_today())).scalar_one()
    if on > today:
        errors.append(FieldError("on", "in_future", "注销日期不能晚于今天"))
    if earliest is not None and on < earliest:
        errors.append(FieldError("on", "before_registration", earliest_message))
    if errors:
        raise InvalidInput("提交的数据有误", errors)
    return reason


def deregister_entity(conn: Connection, entity_id: int, *, on: date, reason: str,
                      kinds: tuple[str, ...], account: Account) -> None:
    """注销: the entity stays with all its records; from the day after `on` it takes no new
    activity (sql/020) and reports count it only in periods up to `on` (entity_active)."""
    current = get_entity(conn, entity_id, kinds)
    if not account.may_write(current.township_code):
        raise Forbidden("该主体不在本账号的管辖范围内")
    if current.deregistered_on is not None:
        msg = f"该主体已于 {current.deregistered_on.isoformat()} 注销"
        raise Conflict(msg, [FieldError("entity_id", "already_deregistered", msg)])
    reason = _check_closing_day(conn, on, reason, current.registered_on,
                                "注销日期不能早于登记日期")
    conn.execute(update(entity).where(entity.c.id == entity_id).values(
        deregistered_on=on, deregistration_reason=reason, deregistered_by=account.id))


# What refers to an entity or a plot, as a hard deletion's refusal names it.
REFERENCE_LABELS = {
    "plot": "地块", "site_point": "溯源采集点位", "patrol": "巡查记录", "certificate": "合格证",
    "rapid_test": "快速检测记录", "lab_sample": "定量检测样品", "credit_event": "信用事件",
    "key_supervision_listing": "重点监管名单记录", "credit_standing": "信用状况",
    "sampling_plan_target": "抽样计划目标",
}

# Every foreign key to the table, from the catalog: a later migration's too.
_REFERENCES = text("""
SELECT c.conrelid::regclass::text AS tab, a.attname AS col
FROM pg_constraint c
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
WHERE c.contype = 'f' AND c.confrelid = CAST(:t AS regclass) AND c.conrelid <> c.confrelid
ORDER BY 1, 2""")


def references(conn: Connection, table: str, record_id: int) -> dict[str, int]:
    """Rows of other tables that refer to `table`'s row `record_id`, counted per table."""
    found: dict[str, int] = {}
    for ref in conn.execute(_REFERENCES, {"t": table}).all():
        query = sql.SQL("SELECT count(*) FROM {} WHERE {} = %s").format(
            sql.Identifier(ref.tab), sql.Identifier(ref.col))
        n = conn.exec_driver_sql(query.as_string(), (record_id,)).scalar_one()
        if n:
            found[ref.tab] = found.get(ref.tab, 0) + n
    return found


def _hard_delete_allowed(conn: Connection, account: Account, table: str, record_id: int,
                         what: str) -> None:
    """Hard deletion: an administrator, and a record nothing refers to (409 names what does)."""
    if account.role != Role.admin:
        hint = "请改为注销" if table == "entity" else "请改为停用"
        msg = f"只有系统管理员可以删除{what}（仅限误录且无任何关联记录的）；{hint}"
        raise Forbidden(msg, [FieldError("id", "deregister_instead", msg)])
    found = references(conn, table, record_id)
    if found:
        parts = [f"{REFERENCE_LABELS.get(t, t)} {n} 条" for t, n in found.items()]
        msg = f"该{what}仍被其他记录引用，不能删除：{'，'.join(parts)}"
        raise Conflict(msg, [FieldError(t, "referenced", f"{REFERENCE_LABELS.get(t, t)} {n} 条")
                             for t, n in found.items()])


def delete_entity(conn: Connection, entity_id: int, *, kinds: tuple[str, ...],
                  account: Account) -> None:
    """Hard deletion of a record entered by mistake; everything else is deregistered."""
    current = get_entity(conn, entity_id, kinds)
    if not account.may_write(current.township_code):
        raise Forbidden("该主体不在本账号的管辖范围内")
    _hard_delete_allowed(conn, account, "entity", entity_id, "主体")
    conn.execute(delete(entity).where(entity.c.id == entity_id))


def reveal_pii(conn: Connection, entity_id: int, *, account: Account, cipher: PiiCipher,
               purpose: str) -> dict[str, str | None]:
    """Full ID and phone for an entitled role; the view is recorded (who, when, what)."""
    if not account.sees_pii:
        raise Forbidden("本账号无权查看完整的身份证号和电话")
    row = conn.execute(select(entity.c.resident_id_enc, entity.c.phone_enc)
                       .where(entity.c.id == entity_id)).one()
    shown = {"resident_id": cipher.decrypt("resident_id", row.resident_id_enc)
             if row.resident_id_enc else None,
             "phone": cipher.decrypt("phone", row.phone_enc) if row.phone_enc else None}
    fields = [k for k, v in shown.items() if v is not None]
    if fields:
        record_pii_access(conn, account=account, entity_ids=[entity_id], fields=fields,
                          purpose=purpose)
    return shown


# --- plots --------------------------------------------------------------------------------------

PLOT_TYPES = ("Point", "Polygon", "MultiPolygon")


def list_plots(conn: Connection, entity_id: int) -> list[Any]:
    return conn.execute(_plot_select().where(_p.c.entity_id == entity_id)
                        .order_by(_p.c.id)).all()


def get_plot(conn: Connection, plot_id: int) -> Any:
    row = conn.execute(_plot_select().where(_p.c.id == plot_id)).first()
    if row is None:
        raise NotFound(f"地块 {plot_id} 不存在", [FieldError("plot_id", "not_found", "地块不存在")])
    return row


def _plot_columns(data: dict[str, Any]) -> dict[str, Any]:
    cols = {k: data[k] for k in ("commodity", "name", "area_mu") if k in data}
    if "geometry" in data:
        geom = parse(data["geometry"], field="geometry", allowed=PLOT_TYPES)
        cols["geom"] = to_ewkb(geom)
        if geom.geom_type != "Point":
            cols.pop("area_mu", None)  # computed from the polygon by the database
    return cols


def _check_plot_scope(conn: Connection, entity_id: int, account: Account) -> None:
    owner = get_entity(conn, entity_id)
    if not account.may_write(owner.township_code):
        raise Forbidden("该主体不在本账号的管辖范围内")


def create_plot(conn: Connection, entity_id: int, data: dict[str, Any], *,
                account: Account) -> int:
    _check_plot_scope(conn, entity_id, account)
    cols = _plot_columns(data) | {"entity_id": entity_id}
    return conn.execute(insert(plot).values(_values(cols, "geom"))
                        .returning(plot.c.id)).scalar_one()


def update_plot(conn: Connection, plot_id: int, data: dict[str, Any], *,
                account: Account) -> None:
    current = get_plot(conn, plot_id)  # not `plot`: that name is the table
    _check_plot_scope(conn, current.entity_id, account)
    cols = _plot_columns(data)
    if cols:
        conn.execute(update(plot).where(plot.c.id == plot_id).values(_values(cols, "geom")))


def retire_plot(conn: Connection, plot_id: int, *, on: date, reason: str,
                account: Account) -> None:
    """停用: the plot stays (its points and sampling targets keep pointing at it)."""
    current = get_plot(conn, plot_id)
    _check_plot_scope(conn, current.entity_id, account)
    if current.retired_on is not None:
        msg = f"该地块已于 {current.retired_on.isoformat()} 停用"
        raise Conflict(msg, [FieldError("plot_id", "already_retired", msg)])
    reason = _check_closing_day(conn, on, reason, None, "")
    conn.execute(update(plot).where(plot.c.id == plot_id).values(
        retired_on=on, retirement_reason=reason, retired_by=account.id))


def delete_plot(conn: Connection, plot_id: int, *, account: Account) -> None:
    current = get_plot(conn, plot_id)
    _check_plot_scope(conn, current.entity_id, account)
    _hard_delete_allowed(conn, account, "plot", plot_id, "地块")
    conn.execute(delete(plot).where(plot.c.id == plot_id))
