"""Field files of site points -> collection submissions.

Rows name their entity by id, USCC, resident ID number (looked up through the keyed hash) or
registered name; an unknown or ambiguous one is rejected with the row number. Rows without a
`client_uuid` get a stable one derived from their content, so importing the same file twice
adds nothing.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, text

from georeg.collection import Submission, parse_time
from georeg.errors import FieldError
from georeg.ids import IdentifierError, normalize_resident_id, normalize_uscc
from georeg.pii import PiiCipher
from importers.point_files import PointRecord

# A fixed namespace: the same row content always gets the same client_uuid.
FILE_NAMESPACE = uuid.UUID("6f1c2a4e-3b7d-5e90-8a1f-2c3d4e5f6a7b")


def stable_uuid(record: PointRecord) -> str:
    content = {k: record.fields.get(k) for k in sorted(record.fields) if k != "client_uuid"}
    content |= {"lon": record.lon, "lat": record.lat}
    return str(uuid.uuid5(FILE_NAMESPACE, json.dumps(content, ensure_ascii=False, default=str,
                                                     sort_keys=True)))


def _client_uuid(given: Any, record: PointRecord) -> str:
    """A UUID as given; a field sheet's own id (such as A-001) becomes a UUID derived from it
    and the entity reference, so re-imports match; no id at all: derived from the content."""
    if not given:
        return stable_uuid(record)
    try:
        return str(uuid.UUID(str(given)))
    except ValueError:
        ref = [record.fields.get(k) for k in ("entity_id", "entity_uscc", "entity_resident_id",
                                               "entity_name")]
        return str(uuid.uuid5(FILE_NAMESPACE, json.dumps([str(given), *ref], default=str,
                                                         ensure_ascii=False)))


def _lookup(conn: Connection, sql: str, values: list[Any]) -> dict[Any, list[int]]:
    found: dict[Any, list[int]] = defaultdict(list)
    if values:
        for key, entity_id in conn.execute(text(sql), {"v": values}):
            found[bytes(key) if isinstance(key, memoryview) else key].append(entity_id)
    return found


def to_submissions(conn: Connection, records: list[PointRecord], *,
                   cipher: PiiCipher) -> list[Submission]:
    """Resolve entity references and commodities in bulk (three queries, not one per row)."""
    usccs: dict[int, str] = {}
    rids: dict[int, bytes] = {}
    names: dict[int, str] = {}
    bad: dict[int, list[FieldError]] = defaultdict(list)
    for r in records:
        f = r.fields
        try:
            if f.get("entity_uscc"):
                usccs[r.record] = normalize_uscc(str(f["entity_uscc"]))
            elif f.get("entity_resident_id"):
                rid = normalize_resident_id(str(f["entity_resident_id"]))
                rids[r.record] = cipher.lookup_hash("resident_id", rid)
            elif f.get("entity_name") and f.get("entity_id") is None:
                names[r.record] = str(f["entity_name"]).strip()
        except IdentifierError as e:
            field = "entity_uscc" if f.get("entity_uscc") else "entity_resident_id"
            bad[r.record].append(FieldError(field, e.code, e.message))
    by_uscc = _lookup(conn, "SELECT uscc, id FROM entity WHERE uscc = ANY(:v)",
                      list(set(usccs.values())))
    by_rid = _lookup(conn, "SELECT resident_id_hash, id FROM entity "
                     "WHERE resident_id_hash = ANY(:v)", list(set(rids.values())))
    by_name = _lookup(conn, "SELECT name, id FROM entity WHERE name = ANY(:v)",
                      list(set(names.values())))
    commodities = dict(conn.execute(text("SELECT name_zh, slug FROM commodity")).all())

    subs = []
    for r in records:
        f = r.fields
        s = Submission(record=r.record, x=r.lon, y=r.lat, note=_text(f.get("note")))
        s.client_uuid = _client_uuid(f.get("client_uuid"), r)
        s.plot_id = f.get("plot_id") if isinstance(f.get("plot_id"), int) else None
        commodity = _text(f.get("commodity"))
        s.commodity = commodities.get(commodity, commodity) if commodity else None
        accuracy = f.get("accuracy_m")
        s.accuracy_m = float(accuracy) if isinstance(accuracy, int | float) else None
        try:
            s.collected_at = parse_time(f.get("collected_at"))
        except ValueError:
            s.reasons.append("invalid_time")
        matches: list[int] | None = None
        if isinstance(f.get("entity_id"), int):
            s.entity_id = f["entity_id"]  # type: ignore[assignment]
        elif r.record in usccs:
            matches = by_uscc.get(usccs[r.record], [])
        elif r.record in rids:
            matches = by_rid.get(rids[r.record], [])
        elif r.record in names:
            matches = by_name.get(names[r.record], [])
        if matches is not None:
            if len(matches) == 1:
                s.entity_id = matches[0]
            else:
                s.reasons.append("ambiguous_entity" if matches else "unknown_entity")
        s.extra_errors = [FieldError(e.field, e.code, e.message) for e in r.errors] + \
            bad.get(r.record, [])
        if s.extra_errors:
            s.reasons.append("invalid_record")
        if (r.lon is None or r.lat is None) and not r.errors:
            s.reasons.append("missing_geometry")
        subs.append(s)
    return subs


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None
