"""A GeoJSON FeatureCollection of site points, parsed and checked by PostgreSQL.

The request body goes to the database as one parameter; PostgreSQL's JSON parser and one
INSERT ... SELECT (stage_features.sql) turn its features into staged rows (pipeline.py), with
the checks a feature had in Python before: what is wrong with a feature becomes a rejection
reason, never an error. Python handles the body only as bytes and the answer only as text: parsing,
checking, hashing and copying each feature in Python, and building its outcome, had cost
about 40 µs a point, four fifths of what the database spent on it.
"""

from __future__ import annotations

import json

from psycopg.errors import StatementTooComplex
from sqlalchemy import Connection
from sqlalchemy.exc import DataError, OperationalError

from georeg.accounts import Account
from georeg.collection.pipeline import (
    MAX_BATCH,
    SQL_PACKAGE,
    Thresholds,
    answer_json,
    stage,
    store,
)
from georeg.database import sql_statement
from georeg.errors import FieldError, InvalidInput, MalformedRequest, PayloadTooLarge


def _malformed(body: bytes) -> MalformedRequest:
    """Why the body is not JSON, by line and column where Python's parser can say."""
    where = ""
    try:
        json.loads(body)
    except json.JSONDecodeError as e:
        where = f"（第 {e.lineno} 行第 {e.colno} 列）"
    except (ValueError, RecursionError):  # not UTF-8 or too deep for Python either
        pass
    msg = f"请求内容不是有效的 JSON{where}"
    return MalformedRequest(msg, [FieldError("body", "invalid_json", msg)])


def ingest_geojson(conn: Connection, body: bytes, *, crs: str, collector: Account,
                   thresholds: Thresholds = Thresholds()) -> str:
    """Store the features of a FeatureCollection; the answer as JSON text."""
    try:
        doc = body.decode(json.detect_encoding(body))
    except UnicodeDecodeError:
        raise _malformed(body) from None
    stage(conn)
    try:
        staged = conn.execute(sql_statement(SQL_PACKAGE, "stage_features.sql"), {
            "body": doc, "crs": crs, "max_batch": MAX_BATCH}).one()
    except (DataError, OperationalError) as e:
        # Not JSON to PostgreSQL (a syntax error, NaN, a \u0000 escape, too deep nesting):
        # its JSON parser names "JSON data" as where. Anything else is a fault of ours.
        context = getattr(getattr(e.orig, "diag", None), "context", None) or ""
        if not (isinstance(e.orig, StatementTooComplex) or context.startswith("JSON data")):
            raise
        raise _malformed(body) from e
    if not staged.is_collection:
        msg = "请求内容应为 GeoJSON FeatureCollection"
        raise InvalidInput(msg, [FieldError("body", "not_a_feature_collection", msg)])
    if staged.n > MAX_BATCH:
        raise PayloadTooLarge(f"每批最多 {MAX_BATCH} 个点位，收到 {staged.n} 个",
                              [FieldError("features", "too_many", f"每批最多 {MAX_BATCH} 个")])
    if staged.n == 0:
        msg = "FeatureCollection 中没有点位"
        raise InvalidInput(msg, [FieldError("features", "empty", msg)])
    summary, results = store(conn, crs=crs, collector=collector, source="api",
                             thresholds=thresholds)
    return answer_json({"crs": crs}, summary, results)
