"""Boundary files (issue 4, part 1): every sample file is built here, in tmp_path.

Shapefiles and GeoPackages are written with pyogrio's raw writer (numpy arrays, no geopandas);
GeoJSON and KML are written by hand, as other tools export them.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyogrio.raw
import pyproj
import pytest
import shapely

from importers.boundary_files import (
    BoundaryFeature,
    BoundaryFileError,
    geometry_types,
    read_boundary_file,
)

# Two townships near Anxi (lon/lat); Fengcheng has a hole so rings must survive the trip.
FENGCHENG = shapely.Polygon(
    [(118.1812, 25.0513), (118.2297, 25.0538), (118.2331, 25.0921), (118.1856, 25.0897)],
    [[(118.2003, 25.0652), (118.2101, 25.0661), (118.2094, 25.0743), (118.2011, 25.0730)]],
)
CHENGXIANG = shapely.Polygon(
    [(118.1407, 25.0214), (118.1793, 25.0189), (118.1922, 25.0466), (118.1655, 25.0701),
     (118.1371, 25.0512)])
TOWNSHIPS = [("350524100", "凤城镇", FENGCHENG, "县城所在地"),
             ("350524101", "城厢镇", CHENGXIANG, "")]
TO_4549 = pyproj.Transformer.from_crs(4326, 4549, always_xy=True)


def projected(geom: shapely.Geometry, transformer: pyproj.Transformer = TO_4549
              ) -> shapely.Geometry:
    return shapely.transform(geom, lambda xy: np.column_stack(transformer.transform(*xy.T)))


def assert_same_place(got: shapely.Geometry | None, want: shapely.Geometry) -> None:
    assert got is not None
    assert got.geom_type == "MultiPolygon"
    assert not got.has_z
    # Hausdorff ignores vertex order and ring orientation, which Shapefile writers change.
    assert shapely.hausdorff_distance(got, want) < 1e-6
    assert got.area == pytest.approx(want.area, rel=1e-6)
    xmin, ymin, xmax, ymax = got.bounds
    assert 117.6 < xmin < xmax < 118.4 and 24.8 < ymin < ymax < 25.5  # Anxi, lon/lat order


Row = tuple[str, str, shapely.Geometry, str]  # code, name, lon/lat geometry, note


def write_shapefile(folder: Path, stem: str = "乡镇界", *, epsg: int | None = 4549,
                    encoding: str = "GBK", fields: Sequence[str] = ("XZQDM", "XZQMC", "备注"),
                    cpg: bool = True, rows: Sequence[Row] = TOWNSHIPS,
                    transformer: pyproj.Transformer | None = TO_4549) -> Path:
    """A Shapefile as desktop GIS writes it; epsg=None leaves out the .prj."""
    folder.mkdir(parents=True, exist_ok=True)
    shp = folder / f"{stem}.shp"
    geoms = [projected(g, transformer) if transformer else g for _, _, g, _ in rows]
    columns = [np.array([r[i] for r in rows], dtype=object) for i in (0, 1, 3)]
    pyogrio.raw.write(shp, np.array(shapely.to_wkb(geoms), dtype=object), columns, list(fields),
                      geometry_type="Polygon", crs=f"EPSG:{epsg or 4549}", encoding=encoding)
    if epsg is None:
        shp.with_suffix(".prj").unlink()
    if not cpg:
        shp.with_suffix(".cpg").unlink()
    return shp


def by_name(features: list[BoundaryFeature]) -> dict[str | None, BoundaryFeature]:
    return {f.name: f for f in features}


def geojson(path: Path, features: list[dict], **extra: object) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", **extra, "features": features},
                               ensure_ascii=False), encoding="utf-8")
    return path


def feature(props: dict, geometry: dict | None) -> dict:
    return {"type": "Feature", "properties": props, "geometry": geometry}


def rings(poly: shapely.Polygon) -> list[list[list[float]]]:
    return shapely.geometry.mapping(poly)["coordinates"]


# --- GeoJSON --------------------------------------------------------------------------------------

def test_geojson_in_wgs84(tmp_path: Path) -> None:
    with_z = [[[x, y, 12.0] for x, y in ring] for ring in rings(FENGCHENG)]
    path = geojson(tmp_path / "乡镇.geojson", [
        feature({"XZQDM": " 350524100 ", "XZQMC": "凤城镇", "面积": 12.5, "人口": 3000},
                {"type": "Polygon", "coordinates": with_z}),
        feature({"XZQDM": "350524101", "XZQMC": "城厢镇", "面积": None, "人口": None},
                {"type": "MultiPolygon", "coordinates": [rings(CHENGXIANG)]}),
    ])
    feats = read_boundary_file(path)
    assert [f.record for f in feats] == [1, 2]
    fc, cx = feats
    assert (fc.code, fc.name, cx.code, cx.name) == ("350524100", "凤城镇", "350524101", "城厢镇")
    assert_same_place(fc.geometry, FENGCHENG)
    assert_same_place(cx.geometry, CHENGXIANG)
    assert len(fc.geometry.geoms[0].interiors) == 1
    assert fc.attributes == {"面积": 12.5, "人口": 3000}
    assert cx.attributes == {"面积": None, "人口": None}
    assert isinstance(fc.attributes["人口"], int)  # not 3000.0: ints with nulls come as floats
    assert fc.errors == () and fc.repaired is None
    assert geometry_types(feats) == {"Polygon", "MultiPolygon"}


def test_numeric_codes_stay_text_and_aliases_ignore_case(tmp_path: Path) -> None:
    path = geojson(tmp_path / "a.json", [
        feature({"AdCode": 350524100, "Name": "凤城镇"},
                {"type": "Polygon", "coordinates": rings(FENGCHENG)}),
    ])
    [f] = read_boundary_file(path)
    assert (f.code, f.name, f.attributes) == ("350524100", "凤城镇", {})


def test_old_geojson_crs_member_is_honoured(tmp_path: Path) -> None:
    path = geojson(tmp_path / "old.geojson", [
        feature({"code": "350524100", "name": "凤城镇"},
                {"type": "Polygon", "coordinates": rings(projected(FENGCHENG))}),
    ], crs={"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4549"}})
    [f] = read_boundary_file(path)
    assert_same_place(f.geometry, FENGCHENG)


def test_projected_coordinates_declared_as_wgs84_are_refused(tmp_path: Path) -> None:
    path = geojson(tmp_path / "metres.geojson", [
        feature({"code": "350524100"}, {"type": "Polygon", "coordinates": rings(FENGCHENG)}),
        feature({"code": "350524101"},
                {"type": "Polygon", "coordinates": rings(projected(CHENGXIANG))}),
    ])
    with pytest.raises(BoundaryFileError) as e:
        read_boundary_file(path)
    assert e.value.code == "coordinates_not_lonlat"
    assert "第 2 个要素" in e.value.message and "--crs" in e.value.message


# --- Shapefile ------------------------------------------------------------------------------------

def test_shapefile_cgcs2000_gauss_kruger_with_gbk_dbf(tmp_path: Path) -> None:
    shp = write_shapefile(tmp_path)
    assert shp.with_suffix(".cpg").read_text().strip().upper() == "GBK"
    assert "凤城镇".encode("gbk") in shp.with_suffix(".dbf").read_bytes()  # really GBK on disk
    feats = by_name(read_boundary_file(shp))
    assert set(feats) == {"凤城镇", "城厢镇"}
    assert feats["凤城镇"].code == "350524100"
    assert feats["凤城镇"].attributes == {"备注": "县城所在地"}
    assert_same_place(feats["凤城镇"].geometry, FENGCHENG)
    assert_same_place(feats["城厢镇"].geometry, CHENGXIANG)
    assert [f.record for f in read_boundary_file(shp)] == [1, 2]


@pytest.mark.parametrize("encoding", ["GBK", "UTF-8"])
def test_shapefile_without_cpg_guesses_the_dbf_encoding(tmp_path: Path, encoding: str) -> None:
    # Chinese field names too: the header must decode before the aliases can match.
    # (DBF names are 10 bytes at most: 区划代码 would be cut mid-character in UTF-8.)
    shp = write_shapefile(tmp_path, encoding=encoding, cpg=False, fields=("代码", "名称", "备注"))
    assert not shp.with_suffix(".cpg").exists()
    feats = by_name(read_boundary_file(shp))
    assert feats["城厢镇"].code == "350524101"
    assert feats["凤城镇"].attributes == {"备注": "县城所在地"}


@pytest.mark.parametrize("cpg", ["936", "ANSI 936", "gb2312", "UTF-8"])
def test_cpg_spellings(tmp_path: Path, cpg: str) -> None:
    shp = write_shapefile(tmp_path)
    # GDAL alone misreads "ANSI 936" as Latin-1; "UTF-8" over GBK data is a mislabelled file.
    shp.with_suffix(".cpg").write_text(cpg)
    assert set(by_name(read_boundary_file(shp))) == {"凤城镇", "城厢镇"}


def test_zipped_shapefile_in_a_subfolder(tmp_path: Path) -> None:
    shp = write_shapefile(tmp_path / "src")
    archive = tmp_path / "乡镇界.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in shp.parent.iterdir():
            zf.write(part, f"安溪县/边界/{part.name}")
        zf.writestr(f"__MACOSX/安溪县/边界/._{shp.name}", b"\0\5\26\7junk")  # Finder litter
    feats = by_name(read_boundary_file(archive))
    assert set(feats) == {"凤城镇", "城厢镇"}
    assert_same_place(feats["城厢镇"].geometry, CHENGXIANG)


def test_zip_with_two_shapefiles_needs_a_layer(tmp_path: Path) -> None:
    a = write_shapefile(tmp_path / "src", "乡镇")
    b = write_shapefile(tmp_path / "src", "网格", rows=TOWNSHIPS[1:])
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in [*a.parent.iterdir()]:
            zf.write(part, part.name)
    with pytest.raises(BoundaryFileError) as e:
        read_boundary_file(archive)
    assert e.value.code == "ambiguous_layer"
    assert "乡镇.shp" in e.value.message and "网格.shp" in e.value.message
    assert [f.name for f in read_boundary_file(archive, layer=b.stem)] == ["城厢镇"]


def test_shapefile_without_prj_needs_crs(tmp_path: Path) -> None:
    shp = write_shapefile(tmp_path, epsg=None)
    assert not shp.with_suffix(".prj").exists()
    with pytest.raises(BoundaryFileError) as e:
        read_boundary_file(shp)
    assert e.value.code == "missing_crs"
    assert ".prj" in e.value.message and "--crs" in e.value.message
    for crs in ("EPSG:4549", "4549"):
        feats = by_name(read_boundary_file(shp, crs=crs))
        assert_same_place(feats["凤城镇"].geometry, FENGCHENG)


def test_crs_argument_overrides_the_prj(tmp_path: Path) -> None:
    # Zone-numbered Gauss-Kruger (EPSG:4526, zone 40, CM 120E) written with a wrong .prj.
    to_4526 = pyproj.Transformer.from_crs(4326, 4526, always_xy=True)
    shp = write_shapefile(tmp_path, transformer=to_4526)
    with pytest.raises(BoundaryFileError) as e:  # read as 4549: eastings 40 million metres out
        read_boundary_file(shp)
    assert e.value.code == "coordinates_not_lonlat"
    feats = by_name(read_boundary_file(shp, crs="EPSG:4526"))
    assert_same_place(feats["凤城镇"].geometry, FENGCHENG)


def test_degrees_under_a_projected_prj_are_refused(tmp_path: Path) -> None:
    shp = write_shapefile(tmp_path, transformer=None)
    with pytest.raises(BoundaryFileError) as e:
        read_boundary_file(shp)
    assert e.value.code == "coordinates_not_projected"
    assert_same_place(by_name(read_boundary_file(shp, crs="EPSG:4490"))["凤城镇"].geometry,
                      FENGCHENG)


def test_shapefile_missing_its_dbf(tmp_path: Path) -> None:
    shp = write_shapefile(tmp_path)
    shp.with_suffix(".dbf").unlink()
    with pytest.raises(BoundaryFileError) as e:
        read_boundary_file(shp)
    assert e.value.code == "missing_sidecar" and ".dbf" in e.value.message


# --- GeoPackage -----------------------------------------------------------------------------------

def write_gpkg_layer(path: Path, layer: str, rows: list[tuple[str, str, shapely.Geometry]],
                     fields: tuple[str, str, str], epsg: int = 4490,
                     geometry_type: str = "MultiPolygon") -> None:
    geoms = np.array(shapely.to_wkb([g for *_, g in rows]), dtype=object)
    columns = [np.array([r[i] for r in rows], dtype=object) for i in (0, 1)]
    pyogrio.raw.write(path, geoms, columns, list(fields[:2]), layer=layer, crs=f"EPSG:{epsg}",
                      geometry_type=geometry_type, promote_to_multi=geometry_type != "Point")


def test_geopackage_with_two_layers(tmp_path: Path) -> None:
    path = tmp_path / "安溪.gpkg"
    write_gpkg_layer(path, "township", [("350524100", "凤城镇", FENGCHENG)], ("XZQDM", "XZQMC", ""))
    grid = shapely.box(118.19, 25.06, 118.2, 25.07)
    # A grid layer in projected metres, also naming its township: the grid's own code wins.
    geoms = np.array(shapely.to_wkb([projected(grid)]), dtype=object)
    pyogrio.raw.write(path, geoms, [np.array(["350524100"], dtype=object),
                                    np.array(["G001"], dtype=object),
                                    np.array(["凤城一网格"], dtype=object)],
                      ["XZQDM", "网格编码", "网格名称"], layer="grid", crs="EPSG:4549",
                      geometry_type="Polygon")
    with pytest.raises(BoundaryFileError) as e:
        read_boundary_file(path)
    assert e.value.code == "ambiguous_layer"
    assert "township" in e.value.message and "grid" in e.value.message
    [g] = read_boundary_file(path, layer="grid")
    assert (g.code, g.name, g.attributes) == ("G001", "凤城一网格", {"XZQDM": "350524100"})
    assert shapely.hausdorff_distance(g.geometry, grid) < 1e-6
    [t] = read_boundary_file(path, layer="township")
    assert (t.code, t.name) == ("350524100", "凤城镇")
    assert_same_place(t.geometry, FENGCHENG)
    with pytest.raises(BoundaryFileError) as e:
        read_boundary_file(path, layer="村界")
    assert e.value.code == "layer_not_found" and "township、grid" in e.value.message


def test_geopackage_picks_its_only_polygon_layer(tmp_path: Path) -> None:
    path = tmp_path / "mixed.gpkg"
    write_gpkg_layer(path, "sites", [("1", "站点", shapely.Point(118.2, 25.06))],
                     ("id", "name", ""), geometry_type="Point")
    write_gpkg_layer(path, "towns", [("350524101", "城厢镇", CHENGXIANG)], ("code", "name", ""))
    [f] = read_boundary_file(path)
    assert f.name == "城厢镇"
    assert_same_place(f.geometry, CHENGXIANG)


# --- KML ------------------------------------------------------------------------------------------

def kml_ring(poly: shapely.Polygon) -> str:
    coords = " ".join(f"{x},{y},0" for x, y in poly.exterior.coords)
    return (f"<Polygon><outerBoundaryIs><LinearRing><coordinates>{coords}</coordinates>"
            "</LinearRing></outerBoundaryIs></Polygon>")


def kml_text(head: str = "") -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>{head}
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>安溪乡镇</name>
<Folder><name>城区</name>
<Placemark><name>凤城镇</name>
  <ExtendedData><Data name="XZQDM"><value>350524100</value></Data></ExtendedData>
  {kml_ring(FENGCHENG)}</Placemark>
</Folder>
<Folder><name>城郊</name>
<Placemark><name>城厢镇</name>
  <ExtendedData><Data name="XZQDM"><value>350524101</value></Data></ExtendedData>
  <MultiGeometry>{kml_ring(CHENGXIANG)}{kml_ring(shapely.box(118.15, 25.0, 118.16, 25.01))}
  </MultiGeometry></Placemark>
</Folder></Document></kml>"""


def check_kml(feats: list[BoundaryFeature]) -> None:
    assert [(f.record, f.code, f.name) for f in feats] == [
        (1, "350524100", "凤城镇"), (2, "350524101", "城厢镇")]
    fc, cx = feats
    assert shapely.hausdorff_distance(fc.geometry, shapely.Polygon(FENGCHENG.exterior)) < 1e-9
    assert len(cx.geometry.geoms) == 2
    assert shapely.hausdorff_distance(cx.geometry.geoms[0], CHENGXIANG) < 1e-9
    assert fc.attributes.get("kml_folder") == "城区"
    assert "tessellate" not in fc.attributes  # LIBKML styling columns are dropped


def test_kml_with_folders(tmp_path: Path) -> None:
    path = tmp_path / "安溪.kml"
    path.write_text(kml_text(), encoding="utf-8")
    check_kml(read_boundary_file(path))
    assert [f.name for f in read_boundary_file(path, layer="城郊")] == ["城厢镇"]


def test_kmz(tmp_path: Path) -> None:
    path = tmp_path / "安溪.kmz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("doc.kml", kml_text())
    check_kml(read_boundary_file(path))


def test_kml_with_entities_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.kml"
    path.write_text(kml_text('<!DOCTYPE kml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'),
                    encoding="utf-8")
    with pytest.raises(BoundaryFileError) as e:
        read_boundary_file(path)
    assert e.value.code == "unsafe_xml"


# --- geometry problems ----------------------------------------------------------------------------

def test_small_bow_tie_is_repaired_and_reported(tmp_path: Path) -> None:
    # A ~1 km square whose last two corners were digitised in the wrong order: a tiny loop.
    x0, y0, d, e = 118.20, 25.06, 0.01, 0.0002
    ring = [[x0, y0], [x0 + d, y0], [x0 + d - e, y0 + d], [x0 + d, y0 + d - e], [x0, y0 + d],
            [x0, y0]]
    path = geojson(tmp_path / "twist.geojson", [
        feature({"code": "G1", "name": "一网格"}, {"type": "Polygon", "coordinates": [ring]})])
    [f] = read_boundary_file(path)
    assert f.errors == ()
    assert f.geometry is not None and f.geometry.is_valid
    # make_valid keeps the loop as its own small triangle; the area moves by twice the loop
    # (its shoelace term was negative), 0.0392 % here.
    big, loop = sorted(f.geometry.geoms, key=lambda g: -g.area)
    assert big.contains(shapely.Point(x0 + d / 2, y0 + d / 2)) and loop.area < 2e-8
    assert f.geometry.area == pytest.approx(d * d - d * e, rel=1e-3)
    assert f.repaired is not None
    assert "自相交" in f.repaired and "已自动修复" in f.repaired and "0.039%" in f.repaired
    assert "118.2" in f.repaired  # where the crossing is


def test_spike_is_cut_off_in_repair(tmp_path: Path) -> None:
    # A digitised spike out of the top-right corner: make_valid returns the square plus a line.
    spike = [[118.20, 25.06], [118.21, 25.06], [118.21, 25.07], [118.21, 25.08], [118.21, 25.07],
             [118.20, 25.07], [118.20, 25.06]]
    path = geojson(tmp_path / "spike.geojson", [
        feature({"code": "G1"}, {"type": "Polygon", "coordinates": [spike]})])
    [f] = read_boundary_file(path)
    assert f.errors == () and f.repaired is not None and "环自身接触" in f.repaired
    assert f.geometry is not None and len(f.geometry.geoms) == 1
    assert shapely.equals(f.geometry, shapely.box(118.20, 25.06, 118.21, 25.07))


def test_unclosed_ring_is_closed(tmp_path: Path) -> None:
    square = [[118.20, 25.06], [118.21, 25.06], [118.21, 25.07], [118.20, 25.07]]  # no end point
    path = geojson(tmp_path / "open.geojson", [
        feature({"code": "G1"}, {"type": "Polygon", "coordinates": [square]})])
    with pytest.warns(RuntimeWarning, match="(?i)closed ring"):  # GDAL says so too
        [f] = read_boundary_file(path)
    assert f.errors == () and f.repaired == "环未闭合，已自动闭合"
    assert shapely.equals(f.geometry, shapely.box(118.20, 25.06, 118.21, 25.07))


BOW_TIE = [[118.20, 25.06], [118.21, 25.07], [118.21, 25.06], [118.20, 25.07], [118.20, 25.06]]
# The twisted square of the test above with a loop big enough to move the area by 10.1 %.
BIG_TWIST = [[118.20, 25.06], [118.21, 25.06], [118.206, 25.07], [118.21, 25.066],
             [118.20, 25.07], [118.20, 25.06]]


@pytest.mark.parametrize(("ring", "says"), [(BOW_TIE, "无法安全修复"), (BIG_TWIST, "10.1%")])
def test_badly_broken_polygon_is_rejected(tmp_path: Path, ring: list, says: str) -> None:
    path = geojson(tmp_path / "broken.geojson", [
        feature({"code": "G1"}, {"type": "Polygon", "coordinates": [ring]}),
        feature({"code": "G2"}, {"type": "Polygon", "coordinates": rings(FENGCHENG)}),
    ])
    bad, good = read_boundary_file(path)
    assert bad.geometry is None and bad.repaired is None
    assert [(e.field, e.code) for e in bad.errors] == [("geometry", "invalid_geometry")]
    assert "自相交" in bad.errors[0].message and says in bad.errors[0].message
    assert good.errors == () and good.geometry is not None


def test_points_and_missing_geometry_are_feature_errors(tmp_path: Path) -> None:
    path = geojson(tmp_path / "mixed.geojson", [
        feature({"name": "凤城镇"}, {"type": "Polygon", "coordinates": rings(FENGCHENG)}),
        feature({"name": "村部"}, {"type": "Point", "coordinates": [118.2, 25.06]}),
        feature({"name": "空"}, None),
        feature({"name": ""}, {"type": "Polygon", "coordinates": rings(CHENGXIANG)}),
    ])
    feats = read_boundary_file(path)
    assert geometry_types(feats) == {"Polygon", "Point"}
    assert [[e.code for e in f.errors] for f in feats] == [
        [], ["not_a_polygon"], ["missing_geometry"], ["missing_identifier"]]
    assert feats[1].geometry is None and "点" in feats[1].errors[0].message
    assert_same_place(feats[0].geometry, FENGCHENG)


# --- whole-file errors ----------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "content", "code"), [
    ("a.csv", "x,y\n1,2\n", "unsupported_format"),
    ("a.geojson", "", "empty"),
    ("a.geojson", '{"type": "FeatureCollection", "features": []}', "empty"),
    ("a.geojson", "这不是 JSON", "unreadable"),
    ("a.zip", "not a zip", "unreadable"),
])
def test_unusable_files(tmp_path: Path, name: str, content: str, code: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(BoundaryFileError) as e:
        read_boundary_file(path)
    assert e.value.code == code
    assert name in e.value.message or code == "unsupported_format"


def test_zip_without_boundary_data(tmp_path: Path) -> None:
    path = tmp_path / "docs.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("说明.txt", "无")
    with pytest.raises(BoundaryFileError) as e:
        read_boundary_file(path)
    assert e.value.code == "unsupported_format"


def test_bad_crs_and_no_identifier_field(tmp_path: Path) -> None:
    path = geojson(tmp_path / "a.geojson", [
        feature({"面积": 1}, {"type": "Polygon", "coordinates": rings(FENGCHENG)})])
    with pytest.raises(BoundaryFileError) as e:
        read_boundary_file(path, crs="EPSG:999999")
    assert e.value.code == "bad_crs"
    with pytest.raises(BoundaryFileError) as e:
        read_boundary_file(path)
    assert e.value.code == "no_identifier_field" and "面积" in e.value.message
