"""Request bodies. Geometry is RFC 7946 GeoJSON (geojson-pydantic checks its structure;
GEOS and the database check validity and townships)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from geojson_pydantic import MultiPolygon, Point, Polygon
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

# Ids are PostgreSQL bigint: a larger number is refused here (422), not by the database.
INT64_MAX = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=INT64_MAX)]
PathId = Annotated[int, Path(ge=1, le=INT64_MAX)]
QueryId = Annotated[int | None, Query(ge=1, le=INT64_MAX)]
# Offsets past any real listing (OFFSET is bigint too; a deep page costs a scan of all before)
OFFSET_MAX = 10_000_000


class ApiModel(BaseModel):
    """Base of every request body: no text in it carries NUL (PostgreSQL text cannot hold
    it), however deep (lists, objects); numbers are finite (a NaN or Infinity in the JSON would
    be stored, then fail every answer that shows it)."""

    model_config = ConfigDict(allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if _has_nul(value):
            raise PydanticCustomError("nul_character", "text contains NUL")
        return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "text is blank")
    return value


# Text that must say something: whitespace alone is refused like an empty string.
NonBlank = AfterValidator(_not_blank)


def _refuse_null(cls: type, value: Any) -> Any:
    if value is None:
        raise PydanticCustomError("null_not_allowed", "null not allowed")
    return value


def not_null(*fields: str) -> Any:
    """For a PATCH body: these fields may be left out, not set to null (they are required)."""
    return field_validator(*fields)(classmethod(_refuse_null))


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple | set):
        return any(_has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


TownshipCode = Annotated[str, Field(pattern=r"^[0-9]{12}$", description="12 位统计用区划代码")]
Name = Annotated[str, Field(min_length=1, max_length=200), NonBlank]
Text = Annotated[str, Field(max_length=500)]
ProducerKind = Literal["enterprise", "cooperative", "family_farm", "large_grower", "buyer"]
PlotGeometry = Annotated[Point | Polygon | MultiPolygon, Field(discriminator="type")]


class _Body(ApiModel):
    model_config = ConfigDict(extra="forbid")

    def fields_set(self) -> dict[str, Any]:
        """Only the fields the client sent (PATCH semantics), geometry as plain GeoJSON."""
        out: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            out[name] = value.model_dump(exclude_none=True) if isinstance(value, BaseModel) \
                else value
        return out


class ProducerCreate(_Body):
    name: Name
    kind: ProducerKind
    uscc: str | None = Field(None, description="统一社会信用代码（企业、合作社必填）")
    legal_representative: Text | None = None
    contact_name: Text | None = None
    phone: str | None = Field(None, description="联系电话（个人信息，加密保存，默认脱敏显示）")
    village: Text | None = None
    address: Text | None = None
    township_code: TownshipCode | None = Field(None, description="不填则按位置判定")
    location: Point = Field(description="主要生产场所（WGS 84 经纬度）")


class ProducerUpdate(_Body):
    _required = not_null("name", "kind", "location")
    name: Name | None = None
    kind: ProducerKind | None = None
    uscc: str | None = None
    legal_representative: Text | None = None
    contact_name: Text | None = None
    phone: str | None = None
    village: Text | None = None
    address: Text | None = None
    township_code: TownshipCode | None = None
    location: Point | None = None


class SmallholderCreate(_Body):
    name: Name
    resident_id: str = Field(description="身份证号（个人信息，加密保存，默认脱敏显示）")
    phone: str | None = None
    village: Text | None = None
    address: Text | None = None
    township_code: TownshipCode | None = None
    location: Point


class SmallholderUpdate(_Body):
    _required = not_null("name", "resident_id", "location")
    name: Name | None = None
    resident_id: str | None = None
    phone: str | None = None
    village: Text | None = None
    address: Text | None = None
    township_code: TownshipCode | None = None
    location: Point | None = None


class PlotCreate(_Body):
    commodity: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="品种代码，如 tea、cowpea")
    name: Text | None = None
    geometry: PlotGeometry
    area_mu: float | None = Field(None, ge=0, description="面积（亩）；面状地块由几何计算")


class PlotUpdate(_Body):
    _required = not_null("commodity", "geometry")
    commodity: str | None = Field(None, pattern=r"^[a-z][a-z0-9_]*$")
    name: Text | None = None
    geometry: PlotGeometry | None = None
    area_mu: float | None = Field(None, ge=0)


class Deregistration(_Body):
    """注销 (an entity) or 停用 (a plot): the last day of activity and why."""

    on: date = Field(description="注销日期（最后经营日，不得晚于今天，不得早于登记日期）")
    reason: Annotated[str, NonBlank, Field(min_length=1, max_length=500)] = Field(
        description="注销原因")
