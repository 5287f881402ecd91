"""SQLAlchemy Core metadata of the registry's tables, for composing queries.

A mirror, never a source: the migrations in sql/ create and change the schema, and
tests/test_tables.py reflects the migrated database to hold this module to them. Never call
`metadata.create_all`. Spatial indexes are the migrations' (hence `spatial_index=False`);
foreign keys are declared only between the tables defined here.
"""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import (
    CHAR,
    REAL,
    BigInteger,
    Boolean,
    Column,
    Computed,
    Date,
    Double,
    ForeignKey,
    Identity,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.dialects.postgresql import ARRAY, TIMESTAMP

__all__ = ["account", "commodity", "entity", "grid", "metadata", "mrl", "pii_access", "plot",
           "site_point", "township"]

SRID = 4326

metadata = MetaData()


def _geometry(geometry_type: str) -> Geometry:
    return Geometry(geometry_type=geometry_type, srid=SRID, spatial_index=False)


def _timestamptz(name: str, *, nullable: bool = False) -> Column[object]:
    return Column(name, TIMESTAMP(timezone=True), nullable=nullable)


# sql/002_reference.sql
township = Table(
    "township", metadata,
    Column("code", CHAR(12), primary_key=True),
    Column("name", Text, nullable=False),
    Column("account", Text),
    Column("county_code", CHAR(6), Computed("substr(code, 1, 6)", persisted=True)),
    Column("boundary", _geometry("MULTIPOLYGON")),
    Column("boundary_source", Text, nullable=False),
    Column("centre", _geometry("POINT")),
    Column("population", Integer),
)

grid = Table(
    "grid", metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("code", Text, nullable=False),
    Column("township_code", CHAR(12), ForeignKey("township.code"), nullable=False),
    Column("name", Text, nullable=False),
    Column("boundary", _geometry("MULTIPOLYGON"), nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date),
)

commodity = Table(
    "commodity", metadata,
    Column("slug", Text, primary_key=True),
    Column("name_zh", Text, nullable=False, unique=True),
    Column("name_en", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("key_risk", Boolean, nullable=False),
    Column("provenance_key", Boolean, nullable=False),
)

# sql/004_registry.sql
entity = Table(
    "entity", metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    Column("kind", Text, nullable=False),
    Column("is_producer", Boolean, Computed(
        "kind IN ('enterprise', 'cooperative', 'family_farm', 'large_grower')", persisted=True)),
    Column("name", Text, nullable=False),
    Column("uscc", CHAR(18)),
    Column("legal_representative", Text),
    Column("contact_name", Text),
    # personal data: keyed hash, AES-GCM ciphertext, masked form (georeg.pii)
    Column("resident_id_hash", LargeBinary),
    Column("resident_id_enc", LargeBinary),
    Column("resident_id_masked", Text),
    Column("phone_hash", LargeBinary),
    Column("phone_enc", LargeBinary),
    Column("phone_masked", Text),
    Column("village", Text),
    Column("address", Text),
    Column("township_code", CHAR(12), ForeignKey("township.code"), nullable=False),
    Column("grid_id", BigInteger, ForeignKey("grid.id")),
    Column("location", _geometry("POINT"), nullable=False),
    Column("key_supervision", Boolean, nullable=False),
    Column("origin", Text, nullable=False),
    Column("created_by", BigInteger),  # references account (id)
    _timestamptz("created_at"),
    _timestamptz("updated_at"),
    # sql/020_deregistration.sql
    Column("registered_on", Date),
    Column("deregistered_on", Date),
    Column("deregistration_reason", Text),
    Column("deregistered_by", BigInteger),  # references account (id)
)

plot = Table(
    "plot", metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    Column("entity_id", BigInteger, ForeignKey("entity.id", ondelete="RESTRICT"),
           nullable=False),
    Column("commodity", Text, ForeignKey("commodity.slug"), nullable=False),
    Column("name", Text),
    Column("geom", _geometry("GEOMETRY"), nullable=False),
    Column("area_mu", Double),
    Column("township_code", CHAR(12), ForeignKey("township.code"), nullable=False),
    Column("grid_id", BigInteger, ForeignKey("grid.id")),
    _timestamptz("created_at"),
    _timestamptz("updated_at"),
    # sql/020_deregistration.sql
    Column("retired_on", Date),
    Column("retirement_reason", Text),
    Column("retired_by", BigInteger),  # references account (id)
)

# sql/006_collection.sql; where a point lies moved to site_point_place (011, 013); its
# township_code is back as the entity's at upload, set by trigger (022, row security)
site_point = Table(
    "site_point", metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("client_uuid", Uuid, nullable=False, unique=True),
    Column("content_hash", LargeBinary, nullable=False),
    Column("entity_id", BigInteger, ForeignKey("entity.id", ondelete="RESTRICT"),
           nullable=False),
    Column("plot_id", BigInteger, ForeignKey("plot.id", ondelete="RESTRICT")),
    Column("commodity", Text, ForeignKey("commodity.slug")),
    Column("geom", _geometry("POINT"), nullable=False),
    Column("input_crs", Text, nullable=False),
    Column("input_x", Double, nullable=False),
    Column("input_y", Double, nullable=False),
    _timestamptz("collected_at", nullable=True),
    Column("accuracy_m", REAL),
    Column("note", Text),
    Column("collector_id", BigInteger),
    Column("flags", ARRAY(Text), nullable=False),
    Column("source", Text, nullable=False),
    _timestamptz("received_at"),
    Column("township_code", CHAR(12), nullable=False),
)

# sql/003_accounts.sql: personal accounts (georeg.accounts)
account = Table(
    "account", metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("username", Text, nullable=False, unique=True),
    Column("display_name", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("township_code", CHAR(12), ForeignKey("township.code")),
    Column("password_hash", Text),  # NULL: a service account (API keys only)
    Column("active", Boolean, nullable=False),
    _timestamptz("created_at"),
    # sql/019_accounts.sql
    Column("must_change_password", Boolean, nullable=False),
    Column("demo", Boolean, nullable=False),
    Column("scopes", ARRAY(Text), nullable=False),
    Column("grid_codes", ARRAY(Text), nullable=False),
    Column("password_changed_at", TIMESTAMP(timezone=True)),
    Column("created_by", BigInteger, ForeignKey("account.id")),
    Column("updated_at", TIMESTAMP(timezone=True)),
    Column("updated_by", BigInteger, ForeignKey("account.id")),
)

# sql/003_accounts.sql: every full view or export of personal data (georeg.pii)
pii_access = Table(
    "pii_access", metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("account_id", BigInteger, ForeignKey("account.id"), nullable=False),
    Column("entity_id", BigInteger, nullable=False),
    Column("fields", ARRAY(Text), nullable=False),
    Column("purpose", Text, nullable=False),
    _timestamptz("accessed_at"),
)

# sql/009_testing.sql: the MRL table, versioned (georeg.testing.mrl)
mrl = Table(
    "mrl", metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("substance", Text, nullable=False),
    Column("commodity", Text, ForeignKey("commodity.slug")),
    Column("category", Text),
    Column("limit_mg_kg", Numeric, nullable=False),
    Column("standard", Text, nullable=False),
    Column("clause", Text, nullable=False),
    Column("source_text", Text, nullable=False),
    Column("file_name", Text),
    Column("loaded_by", BigInteger, ForeignKey("account.id")),
    _timestamptz("loaded_at"),
    Column("replaces", BigInteger, ForeignKey("mrl.id")),
    _timestamptz("superseded_at", nullable=True),
)
