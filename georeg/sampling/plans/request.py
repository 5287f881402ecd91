"""The plan request: checked in full by pydantic before anything is read or written.

`PlanRequest` is the body of POST /api/v1/sampling/plans (FastAPI validates it there);
`parse_request` reads the same request from plain JSON for `georeg sample --request`, with
the same zh-CN messages (georeg.validation).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from georeg.credit.rating import DEFAULT_RULES
from georeg.errors import InvalidInput
from georeg.validation import REQUEST_INVALID, UNION_TAGS, field_errors

MAX_N = 5_000
MAX_REPLACEMENTS = 5_000
MAX_SEED = 2**53  # exact in JSON numbers
DEFAULT_SHARE = 0.25  # smallholders: at least a quarter (docs/domain.md, "County figures")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CircleIn(_In):
    lon: float = Field(description="圆心经度（请求的坐标系）")
    lat: float = Field(description="圆心纬度")
    radius_m: float = Field(gt=0, le=100_000, description="半径（米）")


class AreaIn(_In):
    polygons: list[dict[str, Any]] = Field(default_factory=list, max_length=50,
                                           description="GeoJSON Polygon 或 MultiPolygon")
    grids: list[int] = Field(default_factory=list, max_length=2_000, description="网格编号")
    townships: list[Annotated[str, Field(pattern=r"^[0-9]{12}$")]] = Field(
        default_factory=list, max_length=2_000, description="12 位乡镇代码")
    circles: list[CircleIn] = Field(default_factory=list, max_length=50,
                                    description="圆心与半径（米）")


class RiskIn(_In):
    key_supervision: float = Field(2.0, gt=0, le=100, description="重点监管名单主体的权重倍数")
    failed_sample: float = Field(1.5, gt=0, le=100,
                                 description="近 12 个月有抽检不合格的主体的权重倍数")
    grade: dict[str, float] = Field(
        default_factory=lambda: {"A": 1.0, "B": 1.0, "C": 1.5, "D": 2.0},
        description="按信用等级的权重倍数（未列出的等级为 1）")

    @field_validator("grade")
    @classmethod
    def _grades(cls, v: dict[str, float]) -> dict[str, float]:
        known = [g for g, _ in DEFAULT_RULES.grades] + [DEFAULT_RULES.lowest_grade]
        for key, factor in v.items():
            if key not in known:
                raise ValueError(f"unknown grade {key}")
            if not (0 < factor <= 100):
                raise ValueError("factor out of range")
        return v


class PlanRequest(_In):
    """A plan request (POST /api/v1/sampling/plans, `georeg sample --request`)."""
    name: str | None = Field(None, max_length=200, description="计划名称")
    area: AreaIn = Field(description="范围：多边形、网格、乡镇、圆，可混合，取并集")
    crs: str = Field("wgs84", description="范围坐标的坐标系：wgs84、gcj02、bd09、cgcs2000")
    commodities: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]] = Field(
        min_length=1, max_length=30, description="品种代码，如 cowpea")
    n: int = Field(ge=1, le=MAX_N, description="样本量（正选目标数）")
    test_kind: Literal["rapid_colloidal_gold", "rapid_enzyme_inhibition", "rapid_veterinary",
                       "lab"] = Field(description="检测类型")
    method: Literal["grts", "lpm", "srs"] = Field("grts", description="抽样方法")
    smallholder_share: float = Field(DEFAULT_SHARE, ge=0, le=1, description="农户最低占比")
    smallholder_strict: bool = Field(
        False, description="农户占比无法满足时拒绝请求（默认仍出计划并说明）")
    risk: RiskIn | None = Field(default_factory=RiskIn,
                                description="风险加权倍数；null 表示不加权")
    exclude_sampled_days: int = Field(0, ge=0, le=3_660,
                                      description="排除近 D 天内已抽样的主体（0 不排除）")
    stratify_by: Literal["township", "grid", "commodity"] | None = None
    allocation: Literal["proportional", "equal"] | dict[str, int] = "proportional"
    replacements: int = Field(0, ge=0, le=MAX_REPLACEMENTS, description="替补目标数")
    seed: int | None = Field(None, ge=0, lt=MAX_SEED, description="随机种子；不填则生成并保存")


def parse_request(data: Any) -> PlanRequest:
    """A request from plain JSON (the command line), with the API's zh-CN field messages."""
    try:
        return PlanRequest.model_validate(data)
    except ValidationError as e:
        raise InvalidInput(REQUEST_INVALID,
                           field_errors(e.errors(), drop_prefixes=UNION_TAGS)) from None
