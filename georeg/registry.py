"""The registry's data access: producers, buyers and smallholders (one id space) and plots.

Plain functions over explicit SQL; PostGIS does the spatial work. Inputs arrive as plain
dicts already shaped by the API; personal numbers are validated, hashed and encrypted here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import shapely
from sqlalchemy import Connection, text

from georeg.accounts import Account
from georeg.errors import FieldError, Forbidden, InvalidInput, NotFound
from georeg.geometry import parse, to_ewkb
from georeg.ids import IdentifierError, normalize_phone, normalize_resident_id, normalize_uscc
from georeg.pii import PiiCipher, mask_phone, mask_resident_id


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
# Kinds that must carry a USCC: registered organisations.
USCC_REQUIRED = (Kind.enterprise, Kind.cooperative)

_ENTITY_SELECT = """
SELECT e.id, e.kind, e.name, e.uscc, e.legal_representative, e.contact_name,
       e.resident_id_masked, e.phone_masked, e.village, e.address, e.township_code,
       t.name AS township_name, e.grid_id, g.code AS grid_code, g.name AS grid_name,
       e.key_supervision, e.created_at, e.updated_at,
       ST_AsGeoJSON(e.location, 7)::json AS geometry,
       (SELECT count(*) FROM plot p WHERE p.entity_id = e.id) AS plot_count,
       (SELECT coalesce(array_agg(DISTINCT p.commodity ORDER BY p.commodity), '{}')
        FROM plot p WHERE p.entity_id = e.id) AS commodities
FROM entity e
JOIN township t ON t.code = e.township_code
LEFT JOIN grid g ON g.id = e.grid_id
"""

_PLOT_SELECT = """
SELECT p.id, p.entity_id, p.commodity, c.name_zh AS commodity_name, p.name, p.area_mu,
       p.township_code, p.grid_id, g.code AS grid_code, p.created_at, p.updated_at,
       ST_AsGeoJSON(p.geom, 7)::json AS geometry
FROM plot p
JOIN commodity c ON c.slug = p.commodity
LEFT JOIN grid g ON g.id = p.grid_id
"""


@dataclass(frozen=True)
class EntityFilter:
    kinds: tuple[str, ...]
    township: str | None = None
    grid: str | None = None
    commodity: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    q: str | None = None


def _where(f: EntityFilter) -> tuple[str, dict[str, Any]]:
    clauses = ["e.kind = ANY(:kinds)"]
    params: dict[str, Any] = {"kinds": list(f.kinds)}
    if f.township:
        clauses.append("e.township_code = :township")
        params["township"] = f.township
    if f.grid:
        clauses.append("(g.code = :grid OR EXISTS (SELECT 1 FROM plot p JOIN grid pg "
                       "ON pg.id = p.grid_id WHERE p.entity_id = e.id AND pg.code = :grid))")
        params["grid"] = f.grid
    if f.commodity:
        clauses.append("EXISTS (SELECT 1 FROM plot p WHERE p.entity_id = e.id "
                       "AND p.commodity = :commodity)")
        params["commodity"] = f.commodity
    if f.bbox:
        # The entity's main site or any of its plots in the box.
        clauses.append("(e.location && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326) OR EXISTS ("
                       "SELECT 1 FROM plot p WHERE p.entity_id = e.id AND ST_Intersects(p.geom, "
                       "ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326))))")
        params.update(dict(zip(("x0", "y0", "x1", "y1"), f.bbox, strict=True)))
    if f.q:
        clauses.append("e.name ILIKE :q")
        params["q"] = "%" + f.q.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"
    return " AND ".join(clauses), params


def list_entities(conn: Connection, f: EntityFilter, *, limit: int, offset: int
                  ) -> tuple[int, list[Any]]:
    where, params = _where(f)
    total = conn.execute(text(
        f"SELECT count(*) FROM entity e LEFT JOIN grid g ON g.id = e.grid_id WHERE {where}"),
        params).scalar_one()
    rows = conn.execute(text(f"{_ENTITY_SELECT} WHERE {where} ORDER BY e.id "
                             "LIMIT :limit OFFSET :offset"),
                        {**params, "limit": limit, "offset": offset}).all()
    return total, rows


def get_entity(conn: Connection, entity_id: int, kinds: tuple[str, ...] = tuple(Kind)) -> Any:
    row = conn.execute(text(f"{_ENTITY_SELECT} WHERE e.id = :id AND e.kind = ANY(:kinds)"),
                       {"id": entity_id, "kinds": list(kinds)}).first()
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


def _township_of(conn: Connection, point: shapely.Geometry) -> str | None:
    return conn.execute(text(
        "SELECT code FROM township WHERE ST_Intersects(boundary, ST_GeomFromEWKB(:g)) "
        "ORDER BY code LIMIT 1"), {"g": to_ewkb(point)}).scalar()


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
    names = list(cols)
    values = ", ".join("ST_GeomFromEWKB(:location)" if n == "location" else f":{n}" for n in names)
    return conn.execute(text(f"INSERT INTO entity ({', '.join(names)}) VALUES ({values}) "
                             "RETURNING id"), cols).scalar_one()


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
    sets = ", ".join(f"{n} = ST_GeomFromEWKB(:location)" if n == "location" else f"{n} = :{n}"
                     for n in cols)
    conn.execute(text(f"UPDATE entity SET {sets} WHERE id = :id"), {**cols, "id": entity_id})


def delete_entity(conn: Connection, entity_id: int, *, kinds: tuple[str, ...],
                  account: Account) -> None:
    current = get_entity(conn, entity_id, kinds)
    if not account.may_write(current.township_code):
        raise Forbidden("该主体不在本账号的管辖范围内")
    conn.execute(text("DELETE FROM entity WHERE id = :id"), {"id": entity_id})


def reveal_pii(conn: Connection, entity_id: int, *, account: Account, cipher: PiiCipher,
               purpose: str) -> dict[str, str | None]:
    """Full ID and phone for an entitled role; the view is recorded (who, when, what)."""
    if not account.sees_pii:
        raise Forbidden("本账号无权查看完整的身份证号和电话")
    row = conn.execute(text("SELECT resident_id_enc, phone_enc FROM entity WHERE id = :id"),
                       {"id": entity_id}).one()
    shown = {"resident_id": cipher.decrypt("resident_id", row.resident_id_enc)
             if row.resident_id_enc else None,
             "phone": cipher.decrypt("phone", row.phone_enc) if row.phone_enc else None}
    fields = [k for k, v in shown.items() if v is not None]
    if fields:
        conn.execute(text("INSERT INTO pii_access (account_id, entity_id, fields, purpose) "
                          "VALUES (:a, :e, :f, :p)"),
                     {"a": account.id, "e": entity_id, "f": fields, "p": purpose})
    return shown


# --- plots --------------------------------------------------------------------------------------

PLOT_TYPES = ("Point", "Polygon", "MultiPolygon")


def list_plots(conn: Connection, entity_id: int) -> list[Any]:
    return conn.execute(text(f"{_PLOT_SELECT} WHERE p.entity_id = :id ORDER BY p.id"),
                        {"id": entity_id}).all()


def get_plot(conn: Connection, plot_id: int) -> Any:
    row = conn.execute(text(f"{_PLOT_SELECT} WHERE p.id = :id"), {"id": plot_id}).first()
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
    names = list(cols)
    values = ", ".join("ST_GeomFromEWKB(:geom)" if n == "geom" else f":{n}" for n in names)
    return conn.execute(text(f"INSERT INTO plot ({', '.join(names)}) VALUES ({values}) "
                             "RETURNING id"), cols).scalar_one()


def update_plot(conn: Connection, plot_id: int, data: dict[str, Any], *,
                account: Account) -> None:
    plot = get_plot(conn, plot_id)
    _check_plot_scope(conn, plot.entity_id, account)
    cols = _plot_columns(data)
    if cols:
        sets = ", ".join(f"{n} = ST_GeomFromEWKB(:geom)" if n == "geom" else f"{n} = :{n}"
                         for n in cols)
        conn.execute(text(f"UPDATE plot SET {sets} WHERE id = :id"), {**cols, "id": plot_id})


def delete_plot(conn: Connection, plot_id: int, *, account: Account) -> None:
    plot = get_plot(conn, plot_id)
    _check_plot_scope(conn, plot.entity_id, account)
    conn.execute(text("DELETE FROM plot WHERE id = :id"), {"id": plot_id})
