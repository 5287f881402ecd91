"""Credit records (信用档案) and the key-supervision list (重点监管名单), issue 5.

- events: append-only events and their corrections; `record_event` for any code that writes,
  `insert_events` for a checked sheet (importers.credit_files: CSV/XLSX, all or nothing)
- rating: the rule set, `grade_as_of` (computed from events)
- standing: the same figures stored per entity as of a day, for sampling frames
- listing: key-supervision membership by rule (`refresh_key_supervision`) or by hand
- lookup: by name, USCC, resident ID or phone (keyed hash)
- report: the record as data, printable HTML and text (`show_text`)
"""

from georeg.credit.events import add_event, correct_event, record_event, timeline
from georeg.credit.listing import (
    delist_manually,
    list_manually,
    memberships,
    refresh_key_supervision,
)
from georeg.credit.lookup import search, search_personal
from georeg.credit.rating import DEFAULT_RULES, RatingRules, grade_as_of, grades_for
from georeg.credit.report import credit_record, render_html, show_text
from georeg.credit.standing import refresh_stale_standings, refresh_standings

__all__ = [
    "DEFAULT_RULES",
    "RatingRules",
    "add_event",
    "correct_event",
    "credit_record",
    "delist_manually",
    "grade_as_of",
    "grades_for",
    "list_manually",
    "memberships",
    "record_event",
    "refresh_key_supervision",
    "refresh_stale_standings",
    "refresh_standings",
    "render_html",
    "search",
    "search_personal",
    "show_text",
    "timeline",
]
