"""`georeg load anxi-2023`: the county's townships, 2023 plan and demo boundaries (no accounts:
`georeg init` creates the administrator, importers.demo.accounts the demo's accounts).

Source: 安农〔2023〕66号 (attachments 3 and 4); township points and the county outline from
Vonng/adcode (CC BY 4.0), published in GCJ-02 and converted to WGS 84 here.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import shape
from sqlalchemy import Connection, text

from georeg.config import DATA_DIR
from georeg.coords import gcj02_to_wgs84
from georeg.testing.mrl import normalize_substance
from importers.demo.grids import draw_township_boundaries, generate_grids

ANXI_DIR = DATA_DIR / "anxi-2023"
YEAR = 2023
COUNTY_UNIT_NAME = "县级"
SOURCE_ATTACHMENT_3 = "安农〔2023〕66号 附件3"
SOURCE_ATTACHMENT_4 = "安农〔2023〕66号 附件4"
SOURCE_LAB_MONITORING = "安农〔2023〕66号 二（四）优化定量监测"
SOURCE_BANNED = "农业部公告第199号"
# Vegetables, fruit trees and tea (announcement 199 also names Chinese herbal medicine, which
# has no commodity category here).
BANNED_CATEGORIES = ("vegetable", "fruit", "tea")
_LAB_MONITORING = re.compile(r"全县农产品质量安全监测(\d+)批次")
ATTRIBUTION = "乡镇点位与县界：Vonng/adcode（CC BY 4.0）；乡镇边界为演示数据"

TOWNSHIP_METRICS = ("producers", "daily_patrols", "monthly_patrols", "annual_trace_codes",
                    "annual_smallholder_certificates")
QUOTA_METRICS = {
    "total": "rapid_tests_total",
    "pesticide_colloidal_gold": "rapid_tests_colloidal_gold",
    "pesticide_enzyme_inhibition": "rapid_tests_enzyme_inhibition",
    "veterinary_drug": "rapid_tests_veterinary",
}


@dataclass(frozen=True)
class TownshipRow:
    code: str
    name: str
    account: str
    lon: float
    lat: float
    targets: dict[str, int]


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def read_townships(folder: Path = ANXI_DIR) -> list[TownshipRow]:
    points = {r["township"]: r for r in _read_csv(folder / "township_points_gcj02.csv")}
    rows = []
    for r in _read_csv(folder / "townships.csv"):
        p = points[r["township"]]
        lon, lat = gcj02_to_wgs84(float(p["lon_gcj02"]), float(p["lat_gcj02"]))
        rows.append(TownshipRow(code=p["division_code"], name=r["township"], account=r["account"],
                                lon=lon, lat=lat,
                                targets={m: int(r[m]) for m in TOWNSHIP_METRICS}))
    return rows


def read_county_outline(folder: Path = ANXI_DIR) -> shapely.Geometry:
    """The county outline in WGS 84 (every vertex through the accurate GCJ-02 inverse)."""
    fc = json.loads((folder / "county_outline_gcj02.geojson").read_text(encoding="utf-8"))
    gcj = shape(fc["features"][0]["geometry"])
    wgs = shapely.transform(gcj, lambda xy: np.array([gcj02_to_wgs84(x, y) for x, y in xy]))
    return shapely.make_valid(wgs)


def read_quotas(folder: Path, name_to_code: dict[str, str]) -> list[tuple[str, str, int]]:
    out = []
    for r in _read_csv(folder / "rapid_test_quotas.csv"):
        unit = "county" if r["unit"] == COUNTY_UNIT_NAME else name_to_code[r["unit"]]
        for column, metric in QUOTA_METRICS.items():
            out.append((unit, metric, int(r[column] or 0)))  # a blank cell is no quota
    return out


def read_lab_monitoring_target(folder: Path = ANXI_DIR) -> int:
    """The county's lab-monitoring batches, read from the notice's own sentence."""
    notice = (folder / "notice-2023-work-points.txt").read_text(encoding="utf-8")
    found = _LAB_MONITORING.findall(notice)
    if len(found) != 1:
        raise ValueError("通知中应有且只有一处“全县农产品质量安全监测N批次”")
    return int(found[0])


def read_banned(folder: Path = ANXI_DIR) -> list[str]:
    rows = _read_csv(folder / "banned_pesticides_moa199.csv")
    return [normalize_substance(r["pesticide_cn"]) for r in rows]


def load(conn: Connection, *, seed: int = 1, folder: Path = ANXI_DIR) -> dict:
    """Load (or refresh) the reference data; idempotent. Returns counts for the CLI."""
    townships = read_townships(folder)
    codes = [t.code for t in townships]
    conn.execute(text("""
        INSERT INTO township (code, name, account, centre)
        VALUES (:code, :name, :account, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
        ON CONFLICT (code) DO UPDATE
        SET name = EXCLUDED.name, account = EXCLUDED.account, centre = EXCLUDED.centre"""),
        [{"code": t.code, "name": t.name, "account": t.account, "lon": t.lon, "lat": t.lat}
         for t in townships])
    outline = read_county_outline(folder)
    drawn = draw_township_boundaries(conn, codes=codes, outline_wkb=shapely.to_wkb(outline))
    grids = generate_grids(conn, codes=codes, seed=seed, valid_from=f"{YEAR}-01-01")

    targets = [{"unit": t.code, "metric": m, "target": v, "source": SOURCE_ATTACHMENT_3}
               for t in townships for m, v in t.targets.items()]
    name_to_code = {t.name: t.code for t in townships}
    targets += [{"unit": u, "metric": m, "target": v, "source": SOURCE_ATTACHMENT_4}
                for u, m, v in read_quotas(folder, name_to_code)]
    targets.append({"unit": "county", "metric": "lab_monitoring_batches",
                    "target": read_lab_monitoring_target(folder),
                    "source": SOURCE_LAB_MONITORING})
    conn.execute(text("""
        INSERT INTO plan_target (year, unit, metric, target, source)
        VALUES (:year, :unit, :metric, :target, :source)
        ON CONFLICT (year, unit, metric) DO UPDATE
        SET target = EXCLUDED.target, source = EXCLUDED.source"""),
        [dict(t, year=YEAR) for t in targets])

    banned = read_banned(folder)
    conn.execute(text("""
        INSERT INTO banned_substance (substance, categories, source)
        VALUES (:s, :c, :src)
        ON CONFLICT (substance) DO UPDATE
        SET categories = EXCLUDED.categories, source = EXCLUDED.source"""),
        [{"s": b, "c": list(BANNED_CATEGORIES), "src": SOURCE_BANNED} for b in banned])

    return {"townships": len(townships), "boundaries": drawn, "grids": grids,
            "plan_targets": len(targets), "banned_substances": len(banned)}
