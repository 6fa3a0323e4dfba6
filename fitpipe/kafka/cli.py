"""`fitpipe kafka fetch|start|stop|status`: the local Apache Kafka broker."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fitpipe.kafka.broker import LocalBroker, check_prerequisites, fetch_jars, kafka_version


def _err(message: str) -> None:
    print(message, file=sys.stderr)


def _fetch(args: argparse.Namespace) -> int:
    check_prerequisites()
    _err(f"fetching Apache Kafka {kafka_version()} from Maven Central (cached after the first time) ...")
    _err(f"jars in {fetch_jars(quiet=False)}")
    return 0


def _start(args: argparse.Namespace) -> int:
    broker = LocalBroker(args.home, secure=args.secure)
    running = broker.status()
    if running is None:
        check_prerequisites()
        how = "SASL/SCRAM sign-in and ACLs" if args.secure else "no authentication"
        _err(f"starting Apache Kafka {kafka_version()} (KRaft, {how}) from {broker.home} ...")
    bootstrap = broker.start(port=args.port, timeout=args.timeout)
    _err(f"broker {'was already running' if running else 'ready'}; logs in {broker.log_file}")
    if args.secure:
        _err(f"users and passwords in {broker.credentials_file}; `fitpipe produce|consume` sign in by themselves")
    print(bootstrap)
    return 0


def _stop(args: argparse.Namespace) -> int:
    broker = LocalBroker(args.home)
    _err("broker stopped" if broker.stop() else "no broker was running")
    return 0


def _status(args: argparse.Namespace) -> int:
    state = LocalBroker(args.home).status()
    if state is None:
        print("stopped")
        return 1
    print(f"running pid={state.pid} bootstrap={state.bootstrap}{' secure' if state.secure else ''}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    kafka = subparsers.add_parser("kafka", help="fetch, start, stop or check the local Kafka broker")
    actions = kafka.add_subparsers(dest="action", metavar="ACTION", required=True)
    home_help = "folder of the broker's config, data and logs (default: $FITPIPE_KAFKA_HOME or ~/.local/state/...)"

    fetch = actions.add_parser("fetch", help="download the broker's jars with mvn into the cache")
    fetch.set_defaults(func=_fetch)

    start = actions.add_parser("start", help="start the broker and print its bootstrap address")
    start.add_argument("--port", type=int, default=None, help="listener port (default: the last one, or a free one)")
    start.add_argument("--home", type=Path, default=None, help=home_help)
    start.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for the broker to answer")
    start.add_argument(
        "--secure",
        action="store_true",
        help="as on the AWS host: SASL/SCRAM-SHA-512 users (producer, consumer, admin), ACLs that deny by default, "
        "and the services' topics made beforehand",
    )
    start.set_defaults(func=_start)

    stop = actions.add_parser("stop", help="stop the broker")
    stop.add_argument("--home", type=Path, default=None, help=home_help)
    stop.set_defaults(func=_stop)

    status = actions.add_parser("status", help="print whether the broker runs (exit 1 when it does not)")
    status.add_argument("--home", type=Path, default=None, help=home_help)
    status.set_defaults(func=_status)
