"""Browser assets of the map pages (Leaflet, its plugins, their CSS), served by the app.

County offices often have no internet, and folium loads everything from CDNs. The files come
from the npm registry at set-up (`python -m maps.assets install`, run by `make setup`): each
package pinned by version and by the registry's sha512 integrity in `assets.lock.json`, only the
listed files unpacked, into `Settings.assets_dir` (default: inside the virtualenv). Nothing of
them is kept in the repository. The pages refer to them as `/maps/assets/<name>@<version>/...`;
the static HTML of `georeg map ...` inlines them (`inline_assets`).
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import hashlib
import io
import json
import logging
import mimetypes
import os
import re
import sys
import tarfile
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath

log = logging.getLogger(__name__)

LOCK_FILE = Path(__file__).resolve().parent / "assets.lock.json"
URL_PREFIX = "/maps/assets"
DEFAULT_REGISTRY = "https://registry.npmjs.org"
STAMP = ".integrity"
# folium asset keys the pages do without: Bootstrap 3 glyphicons (folium's legacy icon set) and
# folium's rotation CSS for awesome markers, neither published on npm. An element that needs
# them is refused by `localize` rather than silently loaded from a CDN.
DROPPED = frozenset({"glyphicons_css", "awesome_rotate_css"})


class AssetError(RuntimeError):
    """A zh-CN message: what is missing and how to install it."""


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str
    files: tuple[str, ...]
    folium: dict[str, str]

    @property
    def folder(self) -> str:
        # "@fortawesome/fontawesome-free" -> "fontawesome-free@6.2.0": one path segment
        return f"{self.name.rsplit('/', 1)[-1]}@{self.version}"

    @property
    def tarball(self) -> str:
        return f"{self.name}/-/{self.name.rsplit('/', 1)[-1]}-{self.version}.tgz"

    def wanted(self, member: str) -> bool:
        return any(fnmatch.fnmatchcase(member, pattern) for pattern in self.files)


@cache
def load_lock(path: Path = LOCK_FILE) -> tuple[Package, ...]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return tuple(Package(p["name"], p["version"], p["integrity"], tuple(p["files"]),
                         dict(p.get("folium", {}))) for p in data["packages"])


def default_dir() -> Path:
    """Inside the virtualenv, so that `make clean` removes them with it."""
    return Path(sys.prefix) / "share" / "georeg" / "assets"


def folium_files(packages: Iterable[Package] | None = None) -> dict[str, str]:
    """folium asset key -> path under the assets folder (`leaflet` -> leaflet@1.9.3/dist/...)."""
    out: dict[str, str] = {}
    for p in packages or load_lock():
        for key, file in p.folium.items():
            out[key] = f"{p.folder}/{file}"
    return out


def package_file(name: str, file: str, packages: Iterable[Package] | None = None) -> str:
    """Path under the assets folder of `file` in npm package `name` (as locked)."""
    for p in packages or load_lock():
        if p.name == name:
            return f"{p.folder}/{file}"
    raise KeyError(name)


# --- installing -------------------------------------------------------------------------------


def _integrity_ok(data: bytes, integrity: str) -> bool:
    algorithm, _, expected = integrity.partition("-")
    return base64.b64encode(hashlib.new(algorithm, data).digest()).decode() == expected


def _installed(target: Path, package: Package) -> bool:
    stamp = target / package.folder / STAMP
    return stamp.is_file() and stamp.read_text().strip() == package.integrity


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


def _unpack(data: bytes, package: Package, folder: Path) -> int:
    count = 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            # npm tarballs hold one top folder, usually "package/"
            parts = PurePosixPath(member.name).parts
            inner = "/".join(parts[1:])
            if not member.isfile() or len(parts) < 2 or ".." in parts or not package.wanted(inner):
                continue
            source = tar.extractfile(member)
            assert source is not None
            out = folder / inner
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(source.read())
            count += 1
    return count


def install(target: Path, *, registry: str = DEFAULT_REGISTRY, quiet: bool = False,
            packages: Iterable[Package] | None = None) -> int:
    """Fetch, check and unpack every locked package not yet installed; return how many were."""
    done = 0
    for package in packages if packages is not None else load_lock():
        if _installed(target, package):
            continue
        url = f"{registry.rstrip('/')}/{package.tarball}"
        if not quiet:
            print(f"… 下载地图前端资源 {package.name}@{package.version}", file=sys.stderr)
        try:
            data = _download(url)
        except OSError as e:
            raise AssetError(f"无法下载 {url}：{e}。如在内网，请设置 GEOREG_NPM_REGISTRY "
                             "为可访问的 npm 镜像") from e
        if not _integrity_ok(data, package.integrity):
            raise AssetError(f"{package.name}@{package.version} 的校验值与 assets.lock.json "
                             "不符，已拒绝（下载内容被篡改或镜像有误）")
        folder = target / package.folder
        if _unpack(data, package, folder) == 0:
            raise AssetError(f"{package.name}@{package.version} 中没有锁定文件所列的文件")
        (folder / STAMP).write_text(package.integrity + "\n")
        done += 1
    return done


def missing(target: Path, packages: Iterable[Package] | None = None) -> list[str]:
    """Locked files not present under `target` (paths like leaflet@1.9.3/dist/leaflet.js)."""
    out = []
    for package in packages if packages is not None else load_lock():
        if not _installed(target, package):
            out.append(f"{package.folder}/")
            continue
        for key_file in package.folium.values():
            if not (target / package.folder / key_file).is_file():
                out.append(f"{package.folder}/{key_file}")
    return out


def missing_message(target: Path, absent: list[str]) -> str:
    return (f"地图前端资源未安装或不完整（目录 {target}，缺少 {', '.join(absent[:5])}"
            f"{' 等' if len(absent) > 5 else ''}）。请运行 `make setup` 或 "
            "`.venv/bin/python -m maps.assets install` 安装后重试。")


# --- inlining, for self-contained HTML ---------------------------------------------------------

_SCRIPT = re.compile(r'<script src="(?P<url>[^"]+)"></script>')
_LINK = re.compile(r'<link rel="stylesheet" href="(?P<url>[^"]+)"/>')
_CSS_URL = re.compile(r"url\((?P<q>['\"]?)(?P<ref>[^)'\"]+)(?P=q)\)")


def _css_inlined(css: str, base: Path, root: Path) -> str:
    """url(...) references of a stylesheet as data: URIs (images, fonts)."""
    def repl(m: re.Match[str]) -> str:
        ref = m.group("ref")
        if ref.startswith(("data:", "#", "http:", "https:")):
            return m.group(0)
        path = (base / ref.split("?")[0].split("#")[0]).resolve()
        if not path.is_file() or root.resolve() not in path.parents:
            return m.group(0)
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.suffix == ".woff2":
            mime = "font/woff2"
        return f"url(data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()})"
    return _CSS_URL.sub(repl, css)


def inline_assets(html: str, roots: dict[str, Path]) -> str:
    """Replace <script src> and stylesheet <link>s under the given URL prefixes by their text.

    `roots` maps a URL prefix (/maps/assets, /maps/static) to its folder. A reference outside
    them is left alone (the page builder has already refused remote ones).
    """
    def resolve(url: str) -> tuple[Path, Path] | None:
        for prefix, root in roots.items():
            if url.startswith(prefix + "/"):
                path = (root / url[len(prefix) + 1:].split("?")[0]).resolve()
                if not path.is_file():
                    raise AssetError(missing_message(root, [url[len(prefix) + 1:]]))
                return path, root
        return None

    def script(m: re.Match[str]) -> str:
        found = resolve(m.group("url"))
        if found is None:
            return m.group(0)
        # "</script" inside a string literal would end the element early
        return "<script>" + found[0].read_text(encoding="utf-8").replace(
            "</script", "<\\/script") + "</script>"

    def link(m: re.Match[str]) -> str:
        found = resolve(m.group("url"))
        if found is None:
            return m.group(0)
        path, root = found
        return f"<style>{_css_inlined(path.read_text(encoding='utf-8'), path.parent, root)}</style>"

    return _LINK.sub(link, _SCRIPT.sub(script, html))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m maps.assets",
        description="安装地图页面所需的前端资源（npm 包，按锁定文件校验）")
    parser.add_argument("command", choices=["install", "check"])
    parser.add_argument("--dir", type=Path, default=None,
                        help="安装目录（默认 GEOREG_ASSETS_DIR 或虚拟环境内 share/georeg/assets）")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    target = args.dir or Path(os.environ.get("GEOREG_ASSETS_DIR") or default_dir())
    if args.command == "install":
        try:
            n = install(target, registry=os.environ.get("GEOREG_NPM_REGISTRY", DEFAULT_REGISTRY),
                        quiet=args.quiet)
        except AssetError as e:
            print(f"错误：{e}", file=sys.stderr)
            return 1
        if n or not args.quiet:
            print(f"地图前端资源：新安装 {n} 个包，目录 {target}", file=sys.stderr)
    absent = missing(target)
    if absent:
        print(f"错误：{missing_message(target, absent)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
