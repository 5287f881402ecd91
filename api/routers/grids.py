"""Grid management: boundaries, topology, staff and workload, re-assignment."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Path, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.deps import CurrentAccount, Db, Today
from api.uploads import read_upload_async
from georeg.geojson import collection, feature
from grids import access, boundaries, generate, reassign, staff, topology
from importers.boundary_files import read_boundary_file

router = APIRouter(prefix="/grids", tags=["网格管理"])
TownshipQuery = Annotated[str | None, Query(pattern=r"^[0-9]{12}$")]


class StaffBody(BaseModel):
    supervisor: str | None = Field(None, max_length=50, description="监管员")
    assistants: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(
        default_factory=list, max_length=20, description="协管员")


class GenerateBody(BaseModel):
    township: str = Field(pattern=r"^[0-9]{12}$")
    cells: int = Field(ge=1, le=999)
    valid_from: date | None = None


@router.get("/topology", summary="拓扑检查：重叠、缝隙、越界、碎片（面积为平方米）")
def check(conn: Db, account: CurrentAccount, township: TownshipQuery = None,
          sliver_m2: Annotated[float, Query(gt=0)] = 1000.0) -> dict[str, Any]:
    problems = topology.check(conn, township=township, sliver_m2=sliver_m2)
    return collection([{"type": "Feature", "geometry": p.pop("geometry"), "properties": p}
                       for p in problems], count=len(problems))


@router.get("/workload", summary="网格人员工作量（所辖网格中的主体和地块）")
def workload(conn: Db, account: CurrentAccount, township: TownshipQuery = None
             ) -> list[dict[str, Any]]:
    return staff.workload(conn, township)


@router.get("/{grid_id}", summary="单个网格（含人员与统计）")
def get_grid(conn: Db, account: CurrentAccount, grid_id: Annotated[int, Path()]
             ) -> dict[str, Any]:
    return feature(staff.get_grid(conn, grid_id))


@router.put("/{grid_id}/staff", summary="设置网格监管员与协管员")
def put_staff(conn: Db, account: CurrentAccount, grid_id: int, body: StaffBody
              ) -> dict[str, Any]:
    grid = staff.get_grid(conn, grid_id)
    access.check_may_staff(account, grid.township_code)
    staff.set_staff(conn, grid_id, supervisor=body.supervisor, assistants=body.assistants)
    return feature(staff.get_grid(conn, grid_id))


@router.post("/reassign", summary="按现行边界重新归属所有主体、地块和点位")
def post_reassign(conn: Db, account: CurrentAccount, full: bool = False) -> dict[str, Any]:
    """`full`: every site point against the current grids, not only those in changed grids."""
    access.check_may_manage(account)
    return reassign.reassign(conn, full=full)


@router.post("/generate", summary="按主体数量均衡地生成乡镇网格")
def post_generate(conn: Db, account: CurrentAccount, day: Today, body: GenerateBody
                  ) -> dict[str, Any]:
    access.check_may_manage(account)
    return generate.generate(conn, township=body.township, cells=body.cells,
                             valid_from=body.valid_from or day)


@router.post("/boundaries", summary="导入乡镇或网格边界（GeoJSON、Shapefile、GeoPackage、KML）")
async def post_boundaries(
        conn: Db, account: CurrentAccount, day: Today,
        file: Annotated[UploadFile, File(description="边界文件；Shapefile 请打包为 zip")],
        level: Annotated[Literal["township", "grid"], Form()],
        crs: Annotated[str | None, Form(description="文件未注明坐标系时填写，如 EPSG:4549")] = None,
        layer: Annotated[str | None, Form()] = None,
        valid_from: Annotated[date | None, Form()] = None,
        dry_run: Annotated[bool, Form()] = False) -> dict[str, Any]:
    access.check_may_manage(account)
    suffix = FilePath(file.filename or "upload").suffix.lower()
    with tempfile.TemporaryDirectory() as tmp:
        path = FilePath(tmp) / f"upload{suffix}"
        path.write_bytes(await read_upload_async(file))
        # GDAL and PostGIS work off the event loop
        features = await run_in_threadpool(read_boundary_file, path, crs=crs or None,
                                           layer=layer or None)
    return await run_in_threadpool(
        boundaries.import_boundaries, conn, features, level=level, dry_run=dry_run,
        valid_from=valid_from or day)
