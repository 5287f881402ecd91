"""georeg.tables against the migrated schema: the migrations are the source of truth."""

from __future__ import annotations

import pytest
from geoalchemy2 import Geometry
from sqlalchemy import Column, Engine, MetaData, Table
from sqlalchemy.dialects import postgresql

from georeg import tables

TABLES = list(tables.metadata.sorted_tables)
DIALECT = postgresql.dialect()


def _sql_type(column: Column) -> str:
    # The type as PostgreSQL spells it: CHAR(12), TEXT[], TIMESTAMP WITH TIME ZONE, ...
    return column.type.compile(dialect=DIALECT)


def test_the_registry_tables_are_mirrored() -> None:
    assert {t.name for t in TABLES} >= {"entity", "plot", "township", "grid", "site_point"}


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_columns_match_the_migrations(engine: Engine, table: Table) -> None:
    live = MetaData()
    live.reflect(engine, only=[table.name])
    db = live.tables[table.name]
    assert set(table.columns.keys()) == set(db.columns.keys())
    for declared in table.columns:
        actual = db.columns[declared.name]
        assert _sql_type(declared) == _sql_type(actual), declared.name
        assert declared.nullable == actual.nullable, declared.name
        assert declared.primary_key == actual.primary_key, declared.name
        assert (declared.computed is None) == (actual.computed is None), declared.name


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_geometry_columns_have_their_type_and_srid(engine: Engine, table: Table) -> None:
    live = MetaData()
    live.reflect(engine, only=[table.name])
    for declared in table.columns:
        if not isinstance(declared.type, Geometry):
            continue
        actual = live.tables[table.name].columns[declared.name].type
        assert isinstance(actual, Geometry), declared.name
        assert declared.type.srid == actual.srid == 4326, declared.name
        assert declared.type.geometry_type == actual.geometry_type, declared.name
