"""Testing: rapid tests and lab results, the MRL table, and progress against the year plan."""

from georeg.testing.mrl import judge, list_mrl, store_mrl
from georeg.testing.progress import testing_progress
from georeg.testing.results import record_lab_results, record_rapid_tests

__all__ = ["judge", "list_mrl", "record_lab_results", "record_rapid_tests", "store_mrl",
           "testing_progress"]
