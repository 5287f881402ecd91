"""Producers (and buyers) and smallholders: one id space, two views of it."""

# No `from __future__ import annotations`: the router factory passes body models as variables,
# which FastAPI must see as real types, not strings.

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from api.deps import Cipher, CurrentAccount, Db
from api.schemas import (
    OFFSET_MAX,
    Deregistration,
    PathId,
    PlotCreate,
    ProducerCreate,
    ProducerUpdate,
    SmallholderCreate,
    SmallholderUpdate,
)
from georeg import registry
from georeg.errors import FieldError, InvalidInput
from georeg.geojson import collection, feature
from georeg.registry import KIND_LABELS, PRODUCER_KINDS, STATUS_LABELS, EntityFilter, Kind, Status

Limit = Annotated[int, Query(ge=1, le=1000, description="每页条数")]
Offset = Annotated[int, Query(ge=0, le=OFFSET_MAX)]
TownshipFilter = Annotated[str | None, Query(pattern=r"^[0-9]{12}$", description="12 位乡镇代码")]
GridFilter = Annotated[str | None, Query(pattern=r"^[0-9]{15}$", description="网格编码")]
CommodityFilter = Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]*$")]
BboxFilter = Annotated[str | None, Query(description="minLon,minLat,maxLon,maxLat（WGS 84）")]
NameQuery = Annotated[str | None, Query(max_length=100, description="名称（部分匹配）")]
StatusFilter = Annotated[Status, Query(
    description="active：在册（默认）；deregistered：已注销；all：全部")]
Reveal = Annotated[bool, Query(description="显示完整身份证号与电话（仅限授权角色，查看将被记录）")]


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    try:
        x0, y0, x1, y1 = (float(v) for v in value.split(","))
    except ValueError as e:
        msg = "bbox 应为 4 个数：minLon,minLat,maxLon,maxLat"
        raise InvalidInput(msg, [FieldError("bbox", "invalid_bbox", msg)]) from e
    if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
        msg = "bbox 范围无效（应 minLon < maxLon，minLat < maxLat，且在经纬度范围内）"
        raise InvalidInput(msg, [FieldError("bbox", "invalid_bbox", msg)])
    return x0, y0, x1, y1


def entity_feature(row: Any, revealed: dict[str, str | None] | None = None) -> dict[str, Any]:
    f = feature(row, exclude=("resident_id_masked", "phone_masked"))
    props = f["properties"]
    props["kind_label"] = KIND_LABELS[Kind(row.kind)]
    props["phone"] = row.phone_masked
    if row.kind == Kind.smallholder:
        props["resident_id"] = row.resident_id_masked
        for key in ("uscc", "legal_representative", "contact_name"):
            props.pop(key, None)
    status = Status.deregistered if row.deregistered_on is not None else Status.active
    props["status"] = status.value
    props["status_label"] = STATUS_LABELS[status]
    props["pii_masked"] = revealed is None
    if revealed:
        props.update({k: v for k, v in revealed.items() if k in props or v})
    return f


def entity_router(*, path: str, tag: str, kinds: tuple[str, ...],
                  create_model: type[BaseModel], update_model: type[BaseModel],
                  fixed_kind: Kind | None) -> APIRouter:
    """The same five calls for /producers and /smallholders, each limited to its kinds."""
    router = APIRouter(prefix=path, tags=[tag])
    kind_values = tuple(k.value for k in kinds)

    @router.get("", summary=f"{tag}列表（可按乡镇、网格、品种、类型、范围、名称筛选）")
    def list_(conn: Db, account: CurrentAccount, township: TownshipFilter = None,
              grid: GridFilter = None, commodity: CommodityFilter = None,
              kind: Annotated[str | None, Query()] = None, bbox: BboxFilter = None,
              q: NameQuery = None, status: StatusFilter = Status.active,
              limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
        selected = kind_values
        if kind is not None:
            if kind not in kind_values:
                msg = f"kind 应为 {' / '.join(kind_values)} 之一"
                raise InvalidInput(msg, [FieldError("kind", "invalid_kind", msg)])
            selected = (kind,)
        f = EntityFilter(kinds=selected, township=township, grid=grid, commodity=commodity,
                         bbox=parse_bbox(bbox), q=q or None, status=status)
        total, rows = registry.list_entities(conn, f, limit=limit, offset=offset)
        return collection([entity_feature(r) for r in rows], numberMatched=total,
                          numberReturned=len(rows), limit=limit, offset=offset)

    @router.get("/{entity_id}", summary=f"单个{tag}")
    def get(conn: Db, account: CurrentAccount, cipher: Cipher, entity_id: PathId,
            reveal: Reveal = False) -> dict[str, Any]:
        row = registry.get_entity(conn, entity_id, kind_values)
        revealed = registry.reveal_pii(conn, entity_id, account=account, cipher=cipher,
                                       purpose=f"GET {path}/{entity_id}") if reveal else None
        return entity_feature(row, revealed)

    @router.post("", status_code=201, summary=f"登记{tag}")
    def create(conn: Db, account: CurrentAccount, cipher: Cipher,
               body: create_model,  # type: ignore[valid-type]
               response: Response) -> dict[str, Any]:
        data = body.fields_set()
        kind = fixed_kind or Kind(data["kind"])
        new_id = registry.create_entity(conn, data, kind=kind, account=account, cipher=cipher)
        response.headers["Location"] = f"/api/v1{path}/{new_id}"
        return entity_feature(registry.get_entity(conn, new_id))

    @router.patch("/{entity_id}", summary=f"修改{tag}")
    def update(conn: Db, account: CurrentAccount, cipher: Cipher, entity_id: PathId,
               body: update_model) -> dict[str, Any]:  # type: ignore[valid-type]
        registry.update_entity(conn, entity_id, body.fields_set(), kinds=kind_values,
                               account=account, cipher=cipher)
        return entity_feature(registry.get_entity(conn, entity_id))

    @router.post("/{entity_id}/deregister", summary=f"注销{tag}（保留全部记录）")
    def deregister(conn: Db, account: CurrentAccount, entity_id: PathId,
                   body: Deregistration) -> dict[str, Any]:
        registry.deregister_entity(conn, entity_id, on=body.on, reason=body.reason,
                                   kinds=kind_values, account=account)
        return entity_feature(registry.get_entity(conn, entity_id))

    @router.delete("/{entity_id}", status_code=204,
                   summary=f"删除误录的{tag}（仅系统管理员，且无任何关联记录；否则请注销）")
    def delete(conn: Db, account: CurrentAccount, entity_id: PathId) -> Response:
        registry.delete_entity(conn, entity_id, kinds=kind_values, account=account)
        return Response(status_code=204)

    @router.get("/{entity_id}/plots", summary=f"{tag}的地块")
    def plots(conn: Db, account: CurrentAccount, entity_id: PathId) -> dict[str, Any]:
        registry.get_entity(conn, entity_id, kind_values)
        return collection([feature(r) for r in registry.list_plots(conn, entity_id)])

    @router.post("/{entity_id}/plots", status_code=201, summary=f"为{tag}登记地块")
    def add_plot(conn: Db, account: CurrentAccount, entity_id: PathId, body: PlotCreate,
                 response: Response) -> dict[str, Any]:
        registry.get_entity(conn, entity_id, kind_values)
        plot_id = registry.create_plot(conn, entity_id, body.fields_set(), account=account)
        response.headers["Location"] = f"/api/v1/plots/{plot_id}"
        return feature(registry.get_plot(conn, plot_id))

    return router


producers = entity_router(path="/producers", tag="生产主体", kinds=PRODUCER_KINDS,
                          create_model=ProducerCreate, update_model=ProducerUpdate,
                          fixed_kind=None)
smallholders = entity_router(path="/smallholders", tag="农户", kinds=(Kind.smallholder,),
                             create_model=SmallholderCreate, update_model=SmallholderUpdate,
                             fixed_kind=Kind.smallholder)
