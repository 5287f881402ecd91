"""Grid management: boundaries, topology, staff and workload, re-assignment."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import Field

from api.deps import CurrentAccount, Db, Today
from api.limits import BOUNDARY_FILE_LIMIT, upload_limit
from api.schemas import ApiModel, NonBlank, PathId
from api.uploads import Parsed, read_upload
from georeg.errors import GeoregError
from georeg.geojson import collection, feature
from grids import access, boundaries, generate, reassign, staff, topology
from grids.boundaries import BoundaryFeature
from importers.boundary_files import read_boundary_file

router = APIRouter(prefix="/grids", tags=["网格管理"])
TownshipQuery = Annotated[str | None, Query(pattern=r"^[0-9]{12}$")]


class StaffBody(ApiModel):
    supervisor: str | None = Field(None, max_length=50, description="监管员")
    assistants: list[Annotated[str, Field(min_length=1, max_length=50), NonBlank]] = Field(
        default_factory=list, max_length=20, description="协管员")


class GenerateBody(ApiModel):
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
def get_grid(conn: Db, account: CurrentAccount, grid_id: PathId
             ) -> dict[str, Any]:
    return feature(staff.get_grid(conn, grid_id))


@router.put("/{grid_id}/staff", summary="设置网格监管员与协管员")
def put_staff(conn: Db, account: CurrentAccount, grid_id: PathId, body: StaffBody
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


def boundary_file(
        request: Request,
        file: Annotated[UploadFile, File(description="边界文件；Shapefile 请打包为 zip")],
        crs: Annotated[str | None, Form(description="文件未注明坐标系时填写，如 EPSG:4549")] = None,
        layer: Annotated[str | None, Form()] = None) -> Parsed[list[BoundaryFeature]]:
    """The file read by GDAL in the thread pool, before the transaction opens."""
    name = file.filename or "upload"
    try:
        data = read_upload(file, BOUNDARY_FILE_LIMIT, request.app.state.settings)
        with tempfile.TemporaryDirectory() as tmp:
            path = FilePath(tmp) / f"upload{FilePath(name).suffix.lower()}"
            path.write_bytes(data)
            return Parsed(name, value=read_boundary_file(path, crs=crs or None,
                                                         layer=layer or None))
    except GeoregError as e:
        return Parsed(name, error=e)


@router.post("/boundaries", summary="导入乡镇或网格边界（GeoJSON、Shapefile、GeoPackage、KML）")
@upload_limit(BOUNDARY_FILE_LIMIT)
async def post_boundaries(
        upload: Annotated[Parsed[list[BoundaryFeature]], Depends(boundary_file)],
        conn: Db, account: CurrentAccount, day: Today,
        level: Annotated[Literal["township", "grid"], Form()],
        valid_from: Annotated[date | None, Form()] = None,
        dry_run: Annotated[bool, Form()] = False) -> dict[str, Any]:
    access.check_may_manage(account)
    # PostGIS work off the event loop
    return await run_in_threadpool(
        boundaries.import_boundaries, conn, upload.get(), level=level, dry_run=dry_run,
        valid_from=valid_from or day)
