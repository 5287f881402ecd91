"""Settings, by concern, read from GEOREG_* environment variables (never at import time)."""

from __future__ import annotations

import hashlib
import os
from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = PROJECT_ROOT / "sql"
DATA_DIR = Path(__file__).resolve().parent / "data"
# The database role the API logs in as (created by the managed and test clusters, or a DBA).
API_ROLE = "georeg_api"


def _checkout_tag(root: Path) -> str:
    """Short, stable tag of a checkout, so two clones on one machine never share a cluster."""
    return hashlib.sha1(str(root).encode()).hexdigest()[:8]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GEOREG_", extra="ignore")

    # A server of your own: when set, the project-managed cluster is not used at all.
    database_url: str | None = None
    # The API's own login (georeg_api: owns nothing, subject to row-level security). Unset: the
    # server of `database_url` (or the managed socket) as user georeg_api, without a password.
    api_database_url: str | None = None
    # Where the project keeps its state (cluster, keys) for an ordinary user.
    state_dir: Path = Field(default_factory=lambda: PROJECT_ROOT / ".georeg")
    db_port: int | None = None
    db_name: str = "georeg"
    db_user: str = "georeg"
    pool_size: int = 16
    # seconds a request waits for a pooled connection before a 503
    pool_timeout: float = 10


    pii_key: str | None = None
    # sessions: absolute lifetime of a sign-in, and how long it may stay unused
    token_minutes: int = 8 * 60
    session_idle_minutes: int = 60
    demo_password: str = "georeg-demo"
    # sign-in throttling per (username, client address): free failures, then a doubling wait up
    # to the maximum, then a lock
    login_free_failures: int = 5
    login_max_delay_seconds: int = 30
    login_lock_after: int = 10
    login_lock_minutes: int = 15
    # proxies whose X-Forwarded-For names the client (addresses or networks, comma-separated)
    trusted_proxies: str = ""

    # provenance collection flags
    collection_max_accuracy_m: float = 30.0
    collection_far_from_plots_m: float = 5000.0

    host: str = "127.0.0.1"
    port: int = 8000
    # server processes: one per core lets concurrent uploads parse JSON in parallel
    workers: int = Field(default=1, ge=1)
    # HTTPS (`georeg tls init` makes both under state_dir/tls): phones need a secure context
    tls_cert: Path | None = None
    tls_key: Path | None = None

    # map pages (maps/): base maps can be turned off (tests, offline intranets); Tianditu needs a
    # key (https://console.tianditu.gov.cn), its option is hidden without one
    map_tiles: bool = True
    tianditu_key: str | None = None
    # Leaflet and plugin files installed by `python -m maps.assets install`; None: in the venv
    assets_dir: Path | None = None
    # above this many entities the county page draws them from vector tiles, not one GeoJSON
    map_vector_tiles_above: int = 50_000

    # Bounded work per request (README "Limits"). Bodies: the API's (api/limits.py) checks
    # them while reading; file contents: the importers' (importers/limits.py), while parsing.
    json_body_mb: int = Field(default=2, ge=1)  # every JSON call but the point upload
    point_file_mb: int = Field(default=50, ge=1)  # point files and the GeoJSON point upload
    sheet_file_mb: int = Field(default=10, ge=1)  # activity, credit and testing sheets
    boundary_file_mb: int = Field(default=100, ge=1)  # township and grid boundary files
    sheet_max_rows: int = Field(default=50_000, ge=1)  # rows read from a CSV or XLSX sheet
    zip_max_unzipped_mb: int = Field(default=100, ge=1)  # XLSX, KMZ, zip: all members
    zip_max_members: int = Field(default=1_000, ge=1)
    xml_max_elements: int = Field(default=200_000, ge=1)  # KML, GPX, XLSX sheets' XML aside
    # Interactive (API) statements are cancelled after this many seconds: 503, not a held
    # connection; bulk CLI work has no timeout.
    statement_timeout_s: float = Field(default=30.0, gt=0)

    @cached_property
    def tag(self) -> str:
        return _checkout_tag(self.state_dir.resolve())

    @property
    def cluster_port(self) -> int:
        # Derived from the checkout so that a CI clone and a working tree can run side by side.
        return self.db_port or 54320 + int(self.tag, 16) % 600

    @property
    def runs_as_root(self) -> bool:
        return os.geteuid() == 0

    @property
    def cluster_dir(self) -> Path:
        # PostgreSQL refuses to run as root; then the `postgres` user owns the cluster, which
        # must live where that user can reach it (a checkout may sit in a private home).
        if self.runs_as_root:
            return Path("/var/lib/georeg") / self.tag
        return self.state_dir / "cluster"

    @property
    def socket_dir(self) -> Path:
        # Unix socket paths are limited to 107 bytes: keep them short and out of the checkout.
        return Path("/tmp") / f"georeg-{os.geteuid()}-{self.tag}"

    def url(self) -> str:
        if self.database_url:
            return self.database_url
        return (
            f"postgresql+psycopg://{self.db_user}@/{self.db_name}"
            f"?host={self.socket_dir}&port={self.cluster_port}"
        )

    def api_url(self) -> str:
        """Where the API connects: as georeg_api, never as the owner (sql/022_row_security.sql)."""
        if self.api_database_url:
            return self.api_database_url
        # Local socket logins are trusted in the managed and test clusters.
        return make_url(self.url()).set(username=API_ROLE, password=None).render_as_string(
            hide_password=False)

    def libpq_url(self) -> str:
        """The same server as a plain libpq URL (psql, QGIS, ogr2ogr)."""
        return self.url().replace("postgresql+psycopg://", "postgresql://", 1)
