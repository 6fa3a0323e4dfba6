"""The lakes both engines are asked about: the demo's simulated cohort, and the replay of a Fitabase export.

Each is landed in the consumer's object names and file formats (fitpipe.sample_lake, without a broker), then
crawled into the raw table's catalog and compacted into the curated Iceberg table, as the demo does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

from core.queries import PER_USER_ID
from core.schema import Record
from fitpipe.catalog import crawl
from fitpipe.compact import compact_lake
from fitpipe.demo import DEMO_SEED
from fitpipe.sample_lake import land

#: Larger files than a live stream's keep the raw table's many files from dominating either engine's time.
RECORDS_PER_FILE = 5000


def demo_records() -> Iterable[Record]:
    """The records `fitpipe demo` produces with its defaults: the producer's cohort size and days from the Fitabase
    start, the demo's seed, and the one-user query's user among the ids (fitpipe.demo.demo_settings)."""
    from services.producer.run import start_date
    from services.producer.settings import ProducerSettings
    from services.producer.simulator import simulate, user_ids

    settings = ProducerSettings(mode="backfill", seed=DEMO_SEED)
    ids = user_ids(settings.users, settings.seed)
    if PER_USER_ID not in ids:
        ids[0] = PER_USER_ID
    return simulate(sorted(ids), start_date(settings, dt.datetime.now()), settings.days, settings.seed)


def _finish(lake: Path) -> Path:
    crawl(lake)
    compact_lake(lake)
    return lake


def demo_lake(lake: Path) -> Path:
    land(lake, demo_records(), records_per_file=RECORDS_PER_FILE)
    return _finish(lake)


def replay_lake(lake: Path, fitabase_dir: Path) -> Path:
    from services.producer.replay import load

    land(lake, load(fitabase_dir).records(), records_per_file=RECORDS_PER_FILE)
    return _finish(lake)
