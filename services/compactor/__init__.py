"""The compactor: folds the raw JSON zone into the curated Apache Iceberg table, one commit per day it replaces."""

from services.compactor.compactor import CompactionSummary, DayResult, run
from services.compactor.settings import CompactorSettings

__all__ = ["CompactionSummary", "CompactorSettings", "DayResult", "run"]
