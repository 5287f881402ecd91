"""Provenance collection: batches of GPS site points, stored once, flagged in the database.

pipeline.py stages a file's rows and stores any staged batch; geojson.py stages an API
request's GeoJSON body; stored.py reads a stored point back. The statements are the .sql
files of this package (georeg.database.sql_statement); the expressions they share are SQL
functions of sql/015_collection_functions.sql, which the planner inlines.
"""

from georeg.collection.geojson import ingest_geojson
from georeg.collection.pipeline import (
    FLAG_LABELS,
    MAX_BATCH,
    REJECTION_MESSAGES,
    Outcome,
    Submission,
    Thresholds,
    answer_json,
    check_may_collect,
    ingest,
    parse_time,
    status_of,
    store,
    summary,
)
from georeg.collection.stored import Conflict, StoredPoint, stored_point

__all__ = [
    "FLAG_LABELS", "MAX_BATCH", "REJECTION_MESSAGES", "Conflict", "Outcome", "StoredPoint",
    "Submission", "Thresholds", "answer_json", "check_may_collect", "ingest", "ingest_geojson",
    "parse_time", "status_of", "store", "stored_point", "summary",
]
