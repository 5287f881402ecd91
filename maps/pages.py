"""The map pages: folium builds the map (base layers, controls, Leaflet.Draw), our scripts
(static/js/*.js) load the overlays.

Served pages hold no data: the script fetches every layer from the API with the signed-in
user's token, so a page needs the same login as the API, and re-fetches them in GCJ-02
(`crs=gcj02`) when the Amap base layer is chosen. Static pages (`georeg map ...`) carry their
data and the assets inline instead. Every script and stylesheet is local: folium's CDN links are
rewritten to the files `maps.assets` installed, and a page that would still load one from the
internet is refused.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import folium
from branca.element import Element, Figure, MacroElement
from folium.elements import JSCSSMixin
from folium.plugins import Draw
from jinja2 import Template

from georeg.collection import FLAG_LABELS
from georeg.config import Settings
from georeg.registry import KIND_LABELS
from georeg.sampling.plans import ROLE_LABELS, TEST_KIND_LABELS
from maps import assets

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_URL = "/maps/static"
API = "/api/v1"

KIND_COLORS = {"enterprise": "#1f5fa8", "cooperative": "#2e8b57", "family_farm": "#8e44ad",
               "large_grower": "#b8860b", "buyer": "#6c757d", "smallholder": "#17a2b8"}
KEY_SUPERVISION_COLOR = "#d62728"
# Choropleth classes: lower bound (percent) -> colour, label; the first class that applies.
COVERAGE_CLASSES = [(100, "#1a9850", "100%（每日全覆盖）"), (95, "#91cf60", "95%–100%"),
                    (80, "#fee08b", "80%–95%"), (60, "#fc8d59", "60%–80%"),
                    (0, "#d73027", "低于 60%")]
COMPLETENESS_CLASSES = [(100, "#1a9850", "100%（全部采集）"), (75, "#91cf60", "75%–100%"),
                        (50, "#fee08b", "50%–75%"), (25, "#fc8d59", "25%–50%"),
                        (0, "#d73027", "低于 25%")]
NO_DATA_COLOR = "#cccccc"

# folium's default assets the pages do not use (no awesome markers, no Bootstrap widgets):
# installed and mapped like the rest, but left out of the pages to keep them light.
UNUSED_DEFAULTS = frozenset({"jquery", "bootstrap", "bootstrap_css", "awesome_markers",
                             "awesome_markers_css", "awesome_markers_font_css",
                             "glyphicons_css", "awesome_rotate_css"})
COUNTY_VIEW = ([25.07, 118.0], 10)  # before the layers are loaded and fitted


@dataclass(frozen=True)
class BaseMap:
    name: str
    crs: str  # the coordinate system its tiles are drawn in: wgs84 or gcj02
    urls: tuple[str, ...]  # one tile layer each (Tianditu: map and labels)
    attribution: str
    subdomains: str = "abc"
    max_zoom: int = 18


def base_maps(settings: Settings, *, static: bool = False) -> list[BaseMap]:
    """OpenStreetMap first; Tianditu with a key; Amap (GCJ-02) on served pages only, since a
    static page would need every layer twice."""
    if not settings.map_tiles:
        return []
    out = [BaseMap("OpenStreetMap", "wgs84", ("https://tile.openstreetmap.org/{z}/{x}/{y}.png",),
                   '© <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> 贡献者')]
    if settings.tianditu_key:
        key = settings.tianditu_key
        wmts = ("https://t{s}.tianditu.gov.cn/%s_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
                "&LAYER=%s&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
                "&TILECOL={x}&tk=" + key)
        # CGCS2000, within centimetres of WGS 84: no shift
        out.append(BaseMap("天地图", "wgs84", (wmts % ("vec", "vec"), wmts % ("cva", "cva")),
                           "© 天地图（国家地理信息公共服务平台）", subdomains="01234567"))
    if not static:
        out.append(BaseMap("高德地图（GCJ-02）", "gcj02", (
            "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
            "&x={x}&y={y}&z={z}",), "© 高德地图；叠加数据已转换为 GCJ-02 显示", subdomains="1234"))
    return out


def tile_origins(settings: Settings) -> list[str]:
    """The origins the served pages load base-map tiles from, for the CSP's img-src
    (a subdomain placeholder becomes a wildcard: https://t{s}.tianditu.gov.cn -> *.tianditu...)."""
    out: list[str] = []
    for base in base_maps(settings):
        for url in base.urls:
            host = url.split("/")[2]
            host = re.sub(r"^[^.]*\{s\}[^.]*\.", "*.", host)
            origin = f"{url.split(':')[0]}://{host}"
            if origin not in out:
                out.append(origin)
    return out


@cache
def _static_version(name: str) -> str:
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:10]


def static_url(name: str) -> str:
    """Our own script and stylesheet, with a content hash against stale browser caches."""
    return f"{STATIC_URL}/{name}?v={_static_version(name)}"


def _asset(package: str, file: str) -> str:
    return f"{assets.URL_PREFIX}/{assets.package_file(package, file)}"


def script_json(value: Any) -> str:
    """JSON to embed in a <script>: UTF-8 rather than \\u escapes (half the bytes for Chinese
    names), with the characters that could end the script or a JS string escaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


class GeoregApp(JSCSSMixin, MacroElement):
    """Loads our script and hands it the map, its layer control and the page's configuration."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        georegMaps.start({{ this._parent.get_name() }},
                         {{ this.control.get_name() if this.control else 'null' }},
                         {{ this.config_json }},
                         {{ this.drawn.get_name() if this.drawn else 'null' }});
        {% endmacro %}
    """)

    def __init__(self, config: dict[str, Any], control: Any, drawn: Any = None) -> None:
        super().__init__()
        self._name = "GeoregApp"
        self.config_json = script_json(config)
        self.control = control
        self.drawn = drawn
        self.default_js = [("supercluster", _asset("supercluster", "dist/supercluster.min.js"))]
        if any(layer.get("type") == "tiles" for layer in config.get("layers", [])):
            self.default_js.append(("vectorgrid", _asset(
                "leaflet.vectorgrid", "dist/Leaflet.VectorGrid.bundled.min.js")))
        # our classic scripts (static pages open from disk: no ES modules), in load order
        self.default_js.extend((f"georeg_{name}_js", static_url(f"js/{name}.js")) for name in (
            "client", "styles", "clusters", "layers", "panels", "draw", "start"))
        self.default_css = [("georeg_maps_css", static_url("georeg-maps.css"))]


def localize(root: Any, *, drop: frozenset[str] = frozenset()) -> None:
    """Point every folium element's default_js/default_css at the installed copies.

    Per instance (folium's add_js_link would edit the class-wide lists). A key with no local
    copy raises AssetError: a page never falls back to a CDN."""
    files = assets.folium_files()
    stack = [root]
    while stack:
        element = stack.pop()
        stack.extend(element._children.values())
        for attr in ("default_js", "default_css"):
            links = getattr(element, attr, None)
            if not links:
                continue
            local = []
            for key, url in links:
                if key in drop or (key in assets.DROPPED and key not in files):
                    continue
                if url.startswith(("/maps/", "data:")):
                    local.append((key, url))
                elif key in files:
                    local.append((key, f"{assets.URL_PREFIX}/{files[key]}"))
                else:
                    raise assets.AssetError(
                        f"folium 的前端资源 {key}（{url}）没有本地副本：请在 maps/assets.lock.json "
                        "中加入对应的 npm 包")
            setattr(element, attr, local)


_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\ssrc=)([^>]*)>", re.IGNORECASE)


def with_nonce(page: str, nonce: str | None) -> str:
    """Give every inline <script> (folium's map set-up, our start call) the response's CSP
    nonce: the policy allows no other inline script. Script files come from 'self'."""
    if not nonce:
        return page
    return _INLINE_SCRIPT.sub(lambda m: f'<script nonce="{html.escape(nonce)}"{m.group(1)}>', page)


_REMOTE = re.compile(r'<(?:script[^>]*\ssrc|link[^>]*\shref)="(https?:)?//', re.IGNORECASE)


@dataclass
class Page:
    title: str
    config: dict[str, Any]
    settings: Settings
    static: bool = False
    panel: str = ""  # side panel HTML (draw and plan pages)
    toolbar: str = ""  # controls in the header (month, year)
    draw: bool = False
    extra_classes: list[str] = field(default_factory=list)

    def render(self, nonce: str | None = None) -> str:
        """The page's HTML; `nonce`: the response's CSP nonce for the inline scripts."""
        figure = Figure(title=self.title)
        location, zoom = COUNTY_VIEW
        m = folium.Map(location=location, zoom_start=zoom, tiles=None, prefer_canvas=True,
                       zoom_control=False, control_scale=True, zoom_snap=0.25)
        figure.add_child(m)
        bases = base_maps(self.settings, static=self.static)
        for i, base in enumerate(bases):
            if len(base.urls) == 1:
                folium.TileLayer(base.urls[0], attr=base.attribution, name=base.name,
                                 subdomains=base.subdomains, max_zoom=base.max_zoom,
                                 show=i == 0).add_to(m)
            else:
                group = folium.FeatureGroup(name=base.name, overlay=False, show=i == 0)
                for url in base.urls:
                    folium.TileLayer(url, attr=base.attribution, subdomains=base.subdomains,
                                     max_zoom=base.max_zoom, control=False).add_to(group)
                group.add_to(m)
        drawn = None
        if self.draw:
            drawn = folium.FeatureGroup(name="绘制的范围", control=False).add_to(m)
            Draw(feature_group=drawn, show_geometry_on_click=False, position="topleft",
                 draw_options={"polyline": False, "circle": False, "marker": False,
                               "circlemarker": False,
                               "polygon": {"allowIntersection": False, "showArea": False,
                                           "shapeOptions": {"color": "#e4572e"}},
                               "rectangle": {"showArea": False,
                                             "shapeOptions": {"color": "#e4572e"}}},
                 edit_options={"poly": {"allowIntersection": False}}).add_to(m)
        control = folium.LayerControl(collapsed=False, position="topright").add_to(m)
        config = {**self.config, "baseLayers": {b.name: b.crs for b in bases},
                  "mode": "static" if self.static else "live", "api": API,
                  "login": "/maps/login", "title": self.title}
        GeoregApp(config, control, drawn).add_to(m)
        figure.html.add_child(Element(self._chrome()), name="georeg_chrome", index=0)
        localize(figure, drop=UNUSED_DEFAULTS)
        out = figure.render().replace("<html>", '<html lang="zh-CN">', 1)
        out = out.replace("<head>", '<head>\n<meta charset="utf-8">', 1)
        if _REMOTE.search(out):
            raise assets.AssetError("地图页面仍引用外部脚本或样式表（CDN）：已拒绝生成")
        return with_nonce(out, nonce)

    def _chrome(self) -> str:
        nav = "" if self.static else (
            '<nav class="gr-nav"><a href="/maps/">县域总览</a>'
            '<a href="/maps/provenance">产地溯源采集</a><a href="/maps/draw">抽样选取</a>'
            '<span class="gr-user" id="gr-user"></span>'
            '<a href="#" id="gr-logout">退出</a></nav>')
        classes = " ".join(["gr-page", *self.extra_classes,
                            "gr-with-panel" if self.panel else ""]).strip()
        panel = f'<aside class="gr-panel" id="gr-panel">{self.panel}</aside>' if self.panel else ""
        return (f'<header class="gr-header"><h1>{html.escape(self.title)}</h1>'
                f'<div class="gr-toolbar">{self.toolbar}</div>{nav}</header>'
                f'<div class="gr-notices" id="gr-notices" role="status"></div>{panel}'
                f'<script>document.documentElement.className = {json.dumps(classes)};</script>')


# --- the pages ------------------------------------------------------------------------------


def _labels() -> dict[str, Any]:
    return {"kinds": {k.value: v for k, v in KIND_LABELS.items()}, "flags": FLAG_LABELS,
            "testKinds": TEST_KIND_LABELS, "roles": ROLE_LABELS}


def _styles() -> dict[str, Any]:
    return {"kindColors": KIND_COLORS, "keyColor": KEY_SUPERVISION_COLOR,
            "coverage": COVERAGE_CLASSES, "completeness": COMPLETENESS_CLASSES,
            "noData": NO_DATA_COLOR}


def _kind_legend() -> dict[str, Any]:
    items = [{"color": KIND_COLORS[k.value], "label": label, "shape": "circle"}
             for k, label in KIND_LABELS.items()]
    items.append({"color": KEY_SUPERVISION_COLOR, "label": "重点监管名单（红色外圈）",
                  "shape": "ring"})
    return {"title": "主体类型", "items": items}


def _class_legend(title: str, classes: list[tuple[int, str, str]]) -> dict[str, Any]:
    items = [{"color": c, "label": label, "shape": "square"} for _, c, label in classes]
    items.append({"color": NO_DATA_COLOR, "label": "无统计对象", "shape": "square"})
    return {"title": title, "items": items}


def _base(page: str, layers: list[dict[str, Any]], legend: list[dict[str, Any]],
          **extra: Any) -> dict[str, Any]:
    return {"page": page, "layers": layers, "legend": legend, "labels": _labels(),
            "styles": _styles(), **extra}


def county_page(settings: Settings, *, vector_tiles: bool = False,
                data: dict[str, Any] | None = None) -> Page:
    layers: list[dict[str, Any]] = [
        {"id": "townships", "name": "乡镇边界", "render": "township", "type": "shapes",
         "url": f"{API}/townships", "fit": True},
        {"id": "grids", "name": "网格边界", "render": "grid", "type": "shapes",
         "url": f"{API}/maps/grids"},
        {"id": "plots", "name": "地块", "render": "plot", "type": "cluster",
         "url": f"{API}/maps/plots", "show": False, "lazy": True},
        {"id": "entities", "name": "生产主体与农户", "render": "entity", "type": "cluster",
         "url": f"{API}/maps/entities"},
    ]
    if vector_tiles:
        # province scale: simplified outlines, no grids (see a township's page), points as
        # vector tiles aggregated by the database at low zoom
        layers = [
            {"id": "townships", "name": "乡镇边界", "render": "township", "type": "shapes",
             "url": f"{API}/maps/townships", "fit": True},
            {"id": "plots", "name": "地块（矢量瓦片）", "render": "plot", "type": "tiles",
             "url": f"{API}/tiles/plots/{{z}}/{{x}}/{{y}}.mvt", "show": False, "lazy": True},
            {"id": "entities", "name": "生产主体与农户（矢量瓦片）", "render": "entity",
             "type": "tiles", "url": f"{API}/tiles/entities/{{z}}/{{x}}/{{y}}.mvt"},
        ]
    others = [{"color": "#5b8c2a", "label": "地块（按所在位置）", "shape": "circle"},
              {"color": "#333333", "label": "乡镇边界", "shape": "line"}]
    if not vector_tiles:
        others.append({"color": "#3366cc", "label": "网格边界", "shape": "dash"})
    legend = [_kind_legend(), {"title": "其他", "items": others}]
    return Page("农产品质量安全网格化监管 · 县域总览", _base(
        "county", layers, legend, data=data), settings, static=data is not None)


def township_page(settings: Settings, *, code: str, name: str | None = None, month: str,
                  data: dict[str, Any] | None = None) -> Page:
    layers = [
        {"id": "township", "name": "乡镇边界", "render": "townshipOutline", "type": "shapes",
         "url": f"{API}/townships/{code}", "fit": True},
        {"id": "grids", "name": "网格（日巡查覆盖率）", "render": "gridPatrol", "type": "shapes",
         "url": f"{API}/maps/grids?township={code}&month={month}"},
        {"id": "plots", "name": "地块", "render": "plotShape", "type": "shapes",
         "url": f"{API}/maps/plots?township={code}&shapes=true", "show": False},
        {"id": "entities", "name": "生产主体与农户", "render": "entity", "type": "cluster",
         "url": f"{API}/maps/entities?township={code}"},
    ]
    legend = [_class_legend(f"{month} 日巡查覆盖率", COVERAGE_CLASSES), _kind_legend()]
    toolbar = (f'<label>月份 <input type="month" id="gr-month" value="{html.escape(month)}">'
               '</label>') if data is None else f"<span>{html.escape(month)}</span>"
    title = f"{name or code} · 网格与巡查进度"
    return Page(title, _base("township", layers, legend, township=code, month=month,
                             report=f"{API}/reports/patrols?month={month}", data=data),
                settings, static=data is not None, toolbar=toolbar,
                panel='<h2>本月巡查进度（乡镇）</h2><div id="gr-report">加载中…</div>'
                      '<h2>网格</h2><div id="gr-grid-table"></div>')


def provenance_page(settings: Settings, *, year: int, data: dict[str, Any] | None = None
                    ) -> Page:
    layers = [
        {"id": "grids", "name": "网格（采集完成率）", "render": "gridProvenance",
         "type": "shapes", "url": f"{API}/maps/provenance-grids?year={year}", "fit": True},
        {"id": "sites", "name": "产地点位", "render": "sitePoint", "type": "cluster",
         "url": f"{API}/maps/site-points?year={year}"},
    ]
    legend = [_class_legend(f"{year} 年重点品种点位采集完成率", COMPLETENESS_CLASSES),
              {"title": "点位", "items": [
                  {"color": "#2ca02c", "label": "已采集，无待核查标记", "shape": "circle"},
                  {"color": "#ff7f0e", "label": "已采集，有待核查标记", "shape": "circle"}]}]
    toolbar = (f'<label>年度 <input type="number" id="gr-year" min="2000" max="2100" '
               f'value="{year}"></label>') if data is None else f"<span>{year} 年</span>"
    return Page(f"{year} 年产地溯源信息采集", _base(
        "provenance", layers, legend, year=year,
        report=f"{API}/reports/provenance?year={year}", data=data),
        settings, static=data is not None, toolbar=toolbar,
        panel='<h2>各乡镇完成情况</h2><div id="gr-report">加载中…</div>')


def _select(name: str, label: str, options: dict[str, str]) -> str:
    opts = "".join(f'<option value="{html.escape(k)}">{html.escape(v)}</option>'
                   for k, v in options.items())
    return (f'<label for="gr-{name}">{label}</label>'
            f'<select id="gr-{name}" name="{name}">{opts}</select>')


DRAW_FORM = f"""
<form id="gr-plan-form" novalidate>
  <p class="gr-hint">在地图上用左侧工具绘制多边形或矩形，或点击网格选择（可同时使用）。</p>
  <p id="gr-area-summary" class="gr-area-summary">尚未选择范围</p>
  <label for="gr-name">方案名称（可选）</label><input id="gr-name" name="name" maxlength="100">
  <label for="gr-commodity">品种</label><select id="gr-commodity" name="commodities"></select>
  <label for="gr-n">样本量 n</label><input id="gr-n" name="n" type="number" min="1" value="30">
  {_select("test_kind", "检测方式", TEST_KIND_LABELS)}
  <label for="gr-smallholder_share">农户样本占比（不低于）</label>
  <input id="gr-smallholder_share" name="smallholder_share" type="number" min="0" max="1"
         step="0.05" value="0.25">
  <label for="gr-replacements">替补目标数</label>
  <input id="gr-replacements" name="replacements" type="number" min="0" value="5">
  <div class="gr-buttons"><button type="submit" id="gr-select">选取</button>
  <button type="button" id="gr-clear">清除范围</button></div>
</form>
<div id="gr-errors" class="gr-errors" role="alert"></div>
<div id="gr-result"></div>
"""


def draw_page(settings: Settings) -> Page:
    layers = [
        {"id": "grids", "name": "网格（点击选择）", "render": "gridPick", "type": "shapes",
         "url": f"{API}/maps/grids", "fit": True},
        {"id": "targets", "name": "抽样目标", "render": "target", "type": "markers",
         "url": None},
    ]
    legend = [{"title": "抽样目标", "items": [
        {"color": "#1f5fa8", "label": "正选目标（编号）", "shape": "circle"},
        {"color": "#e67e22", "label": "替补目标（虚线，按编号顺序替补）", "shape": "ring"},
        {"color": "#e4572e", "label": "绘制的范围", "shape": "line"},
        {"color": "#f4a259", "label": "已选网格", "shape": "square"}]}]
    return Page("抽样选取 · 绘制范围", _base("draw", layers, legend), settings, draw=True,
                panel=DRAW_FORM)


def plan_page(settings: Settings, *, plan_id: int, data: dict[str, Any] | None = None) -> Page:
    layers = [
        {"id": "area", "name": "抽样范围", "render": "area", "type": "shapes", "url": None,
         "fit": True},
        {"id": "targets", "name": "抽样目标", "render": "target", "type": "markers", "url": None},
    ]
    legend = [{"title": "抽样目标", "items": [
        {"color": "#1f5fa8", "label": "正选目标（编号）", "shape": "circle"},
        {"color": "#e67e22", "label": "替补目标（虚线，按编号顺序替补）", "shape": "ring"},
        {"color": "#d62728", "label": "抽样范围", "shape": "line"}]}]
    return Page(f"抽样方案 #{plan_id}", _base(
        "plan", layers, legend, plan=f"{API}/sampling/plans/{plan_id}", planId=plan_id,
        data=data), settings, static=data is not None,
        panel='<div id="gr-result">加载中…</div>')


# --- the login page (no map) ---------------------------------------------------------------

LOGIN = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>登录 · georeg 地图</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{css}"></head>
<body class="gr-login-page">
<form id="gr-login" class="gr-login" novalidate>
  <h1>农产品质量安全网格化监管 · 地图</h1>
  <label for="gr-username">账号</label><input id="gr-username" name="username"
    autocomplete="username" required>
  <label for="gr-password">密码</label><input id="gr-password" name="password" type="password"
    autocomplete="current-password" required>
  <button type="submit">登录</button>
  <p id="gr-login-error" class="gr-errors" role="alert"></p>
  <p class="gr-hint">登录凭证只保存在本浏览器标签页中，关闭标签页即失效。</p>
</form>
<script src="{js}"></script>
<script>georegMaps.login({{api: "/api/v1"}});</script>
</body></html>
"""


def login_page(nonce: str | None = None) -> str:
    return with_nonce(LOGIN.format(css=static_url("georeg-maps.css"),
                                   js=static_url("js/client.js")), nonce)


def missing_assets_page(message: str) -> str:
    return ('<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
            "<title>地图资源缺失</title></head><body><h1>地图页面暂不可用</h1>"
            f"<p>{html.escape(message)}</p></body></html>")
