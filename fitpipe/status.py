"""`fitpipe status`: the pipeline on one screen. The broker, each topic's partitions and end offsets, the consumer
group's lag per partition (from the broker's committed offsets, so it is known while the consumer is stopped), the
dead letters, the newest event and file per day in the raw lake, and the curated table's newest day once one
exists. `--json` prints the same as JSON."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

from core.names import CONSUMER_GROUP, DEAD_LETTER_TOPIC, LAKE_DATA_PREFIX, PARTITION_COLUMN, TOPIC
from fitpipe.errors import UserError

DEFAULT_LAKE = Path("out/lake")


def kafka_status(bootstrap: str, topics: list[str], group: str, timeout: float = 10.0) -> dict[str, Any]:
    """The broker, each topic's partitions with their offsets, and the group's lag per partition of `topics[0]`."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    logger = logging.getLogger("fitpipe.status.librdkafka")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    client = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False, "logger": logger}
    )
    try:
        try:
            metadata = client.list_topics(timeout=timeout)
        except KafkaException as exc:
            raise UserError(f"no Kafka broker answers at {bootstrap}") from exc
        result: dict[str, Any] = {
            "bootstrap": bootstrap,
            "cluster_id": metadata.cluster_id,
            "brokers": sorted(f"{b.host}:{b.port}" for b in metadata.brokers.values()),
            "topics": {},
        }
        for topic in topics:
            found = metadata.topics.get(topic)
            if found is None or found.error is not None:
                result["topics"][topic] = None
                continue
            partitions = {}
            for p in sorted(found.partitions):
                low, high = client.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
                partitions[p] = {"start": low, "end": high, "records": high - low}
            result["topics"][topic] = partitions
        main = result["topics"].get(topics[0]) or {}
        committed = client.committed([TopicPartition(topics[0], p) for p in main], timeout=timeout) if main else []
        lag = {}
        for tp in committed:
            offsets = main[tp.partition]
            position = tp.offset if tp.offset >= 0 else offsets["start"]
            lag[tp.partition] = {
                "committed": tp.offset if tp.offset >= 0 else None,
                "lag": max(0, offsets["end"] - position),
            }
        result["group"] = {"id": group, "partitions": lag, "lag": sum(v["lag"] for v in lag.values())}
        return result
    finally:
        client.close()


def lake_status(lake: Path) -> dict[str, Any]:
    """Per day of the raw lake: files, bytes, the newest event time and the newest file; the curated table's newest
    day when a curated table exists in the lake."""
    root = lake / LAKE_DATA_PREFIX
    days: dict[str, dict[str, Any]] = {}
    files = sorted(p for p in root.glob(f"{PARTITION_COLUMN}=*/*") if p.is_file() and not p.name.startswith("."))
    for path in files:
        day = path.parent.name.split("=", 1)[1]
        entry = days.setdefault(day, {"files": 0, "bytes": 0, "newest_file": None, "newest_file_time": None})
        entry["files"] += 1
        entry["bytes"] += path.stat().st_size
        mtime = path.stat().st_mtime
        if entry["newest_file_time"] is None or mtime > entry["newest_file_time"]:
            entry["newest_file"], entry["newest_file_time"] = path.name, mtime
    for day, event in _newest_events(files).items():
        if day in days:
            days[day]["newest_event"] = event
    for entry in days.values():
        stamp = entry["newest_file_time"]
        entry["newest_file_time"] = dt.datetime.fromtimestamp(stamp, dt.UTC).isoformat(timespec="seconds")
        entry.setdefault("newest_event", None)
    curated = curated_status(lake)
    return {
        "lake": str(lake),
        "days": dict(sorted(days.items())),
        "newest_event": max((d["newest_event"] for d in days.values() if d["newest_event"]), default=None),
        "curated_newest_day": curated["newest_day"] if curated else None,
        "curated": curated,
    }


def curated_status(lake: Path) -> dict[str, Any] | None:
    """The curated Iceberg table as its current snapshot has it (read through its catalog, never created here):
    its days, rows and data files, its newest day, and the time of its last commit; None when there is no table."""
    from fitpipe.tables import curated_table

    table = curated_table(lake)
    if table is None:
        return None
    snapshot = table.current_snapshot()
    partitions = table.inspect.partitions().to_pylist() if snapshot is not None else []
    days = sorted(p["partition"][PARTITION_COLUMN] for p in partitions if p["record_count"])
    return {
        "table": ".".join(table.name()),
        "days": len(days),
        "rows": sum(p["record_count"] for p in partitions),
        "files": sum(p["file_count"] for p in partitions),
        "newest_day": days[-1] if days else None,
        "last_commit": dt.datetime.fromtimestamp(snapshot.timestamp_ms / 1000, dt.UTC).isoformat(timespec="seconds")
        if snapshot is not None
        else None,
    }


def _newest_events(files: list[Path]) -> dict[str, str]:
    """The newest event (`date time`) of each day, read from the files with DuckDB."""
    if not files:
        return {}
    import duckdb

    from fitpipe.catalog import _reader, _sql_list

    groups: dict[str, list[Path]] = {"parquet": [], "json": []}
    for path in files:
        groups["parquet" if path.name.endswith(".parquet") else "json"].append(path)
    newest: dict[str, str] = {}
    con = duckdb.connect()
    try:
        for fmt, paths in groups.items():
            if not paths:
                continue
            columns = None if fmt == "parquet" else {"date": "VARCHAR", "time": "VARCHAR"}
            reader = _reader(fmt, _sql_list(paths), columns)
            rows = con.execute(f'SELECT "date", max("time") FROM {reader} GROUP BY "date"').fetchall()
            for day, time in rows:
                newest[day] = max(newest.get(day, ""), f"{day} {time}")
    finally:
        con.close()
    return newest


def gather(
    bootstrap: str, lake: Path, topic: str = TOPIC, dlq_topic: str = DEAD_LETTER_TOPIC, group: str = CONSUMER_GROUP
) -> dict[str, Any]:
    kafka = kafka_status(bootstrap, [topic, dlq_topic], group)
    dead = kafka["topics"].get(dlq_topic)
    kafka["dead_letters"] = sum(p["records"] for p in dead.values()) if dead else 0
    return {"kafka": kafka, "lake": lake_status(lake)}


def render(status: dict[str, Any]) -> str:
    """The status as one screen of text."""
    kafka, lake = status["kafka"], status["lake"]
    lines = [f"broker     {', '.join(kafka['brokers'])} (cluster {kafka['cluster_id']})"]
    for topic, partitions in kafka["topics"].items():
        if partitions is None:
            lines.append(f"topic      {topic}: does not exist")
            continue
        ends = ", ".join(f"{p}: {v['end']:,}" for p, v in partitions.items())
        lines.append(f"topic      {topic}: {len(partitions)} partitions, end offsets {ends}")
    group = kafka["group"]
    per = ", ".join(f"{p}: {v['lag']:,}" for p, v in group["partitions"].items())
    lines.append(f"group      {group['id']}: lag {group['lag']:,} records ({per or 'no partitions'})")
    lines.append(f"dead       {kafka['dead_letters']:,} dead letters")
    lines.append(f"lake       {lake['lake']}: {len(lake['days'])} days, newest event {lake['newest_event'] or '-'}")
    for day, entry in lake["days"].items():
        lines.append(
            f"  {day}  {entry['files']:>5} files  {entry['bytes']:>12,} B  newest event "
            f"{entry['newest_event'] or '-'}  newest file {entry['newest_file']} "
            f"({entry['newest_file_time']})"
        )
    curated = lake["curated"]
    if curated is None:
        lines.append("curated    no curated table yet")
    else:
        lines.append(
            f"curated    {curated['table']}: {curated['days']} days, {curated['rows']:,} rows in "
            f"{curated['files']} files, newest day {curated['newest_day'] or '-'}, last commit "
            f"{curated['last_commit'] or '-'}"
        )
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    bootstrap = args.bootstrap
    if bootstrap is None:
        from fitpipe.kafka import running_broker

        state = running_broker()
        if state is None:
            raise UserError("no Kafka broker: start one with `fitpipe kafka start` or pass --bootstrap HOST:PORT")
        bootstrap = state.bootstrap
    status = gather(bootstrap, args.lake, args.topic, args.dlq_topic, args.group)
    print(json.dumps(status, indent=2) if args.json else render(status))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("status", help="the pipeline on one screen: Kafka, the group's lag, the lake")
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: the broker of `fitpipe kafka start`)")
    parser.add_argument("--lake", type=Path, default=DEFAULT_LAKE, help="the lake folder (default: out/lake)")
    parser.add_argument("--topic", default=TOPIC, help=f"the topic (default: {TOPIC})")
    parser.add_argument("--dlq-topic", default=DEAD_LETTER_TOPIC, help=f"dead letters (default: {DEAD_LETTER_TOPIC})")
    parser.add_argument("--group", default=CONSUMER_GROUP, help=f"consumer group (default: {CONSUMER_GROUP})")
    parser.add_argument("--json", action="store_true", help="print the status as JSON")
    parser.set_defaults(func=_run)
