"""`fitpipe kafka fetch|start|stop|status`: the local Apache Kafka broker, or a cluster of three."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fitpipe.errors import UserError
from fitpipe.kafka.broker import LocalBroker, LocalCluster, check_prerequisites, fetch_jars, kafka_version


def _err(message: str) -> None:
    print(message, file=sys.stderr)


def _fetch(args: argparse.Namespace) -> int:
    check_prerequisites()
    _err(f"fetching Apache Kafka {kafka_version()} from Maven Central (cached after the first time) ...")
    _err(f"jars in {fetch_jars(quiet=False)}")
    return 0


def _start(args: argparse.Namespace) -> int:
    if args.node is not None:
        return _start_node(args)
    if args.brokers > 1:
        return _start_cluster(args)
    if LocalCluster(args.home).status():
        raise UserError(f"a cluster is running from {LocalCluster(args.home).home}; stop it first, or use --brokers 3")
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


def _start_cluster(args: argparse.Namespace) -> int:
    if args.secure:
        raise UserError("--secure runs one broker; drop --brokers, or drop --secure for a cluster")
    if args.port is not None:
        raise UserError("--port sets a lone broker's port; a cluster picks a free port for each node")
    cluster = LocalCluster(args.home, size=args.brokers)
    if LocalBroker(args.home).status():
        raise UserError(f"a single broker is running from {cluster.home}; stop it first")
    if cluster.size != args.brokers:
        raise UserError(f"{cluster.home} holds a cluster of {cluster.size} nodes; use another --home")
    running = cluster.status()
    if running is None:
        check_prerequisites()
        _err(
            f"starting Apache Kafka {kafka_version()} (KRaft, {args.brokers} nodes, no authentication) "
            f"from {cluster.home} ..."
        )
    bootstrap = cluster.start(timeout=args.timeout)
    _err(
        f"cluster {'was already running' if running and len(running.nodes) == cluster.size else 'ready'}; "
        f"logs in {cluster.home}/node-N/logs"
    )
    print(bootstrap)
    return 0


def _start_node(args: argparse.Namespace) -> int:
    cluster = LocalCluster(args.home)
    check_prerequisites()
    bootstrap = cluster.start_node(args.node, timeout=args.timeout)
    _err(f"node {args.node} is in the cluster; logs in {cluster.node(args.node).log_file}")
    print(bootstrap)
    return 0


def _stop(args: argparse.Namespace) -> int:
    cluster = LocalCluster(args.home)
    if args.node is not None:
        stopped = cluster.stop_node(args.node, kill=args.kill)
        how = "killed" if args.kill else "stopped"
        _err(f"node {args.node} {how}" if stopped else f"node {args.node} was not running")
        return 0
    if args.kill:
        raise UserError("--kill stops one node: give it with --node N")
    stopped_cluster = cluster.stop()
    stopped_broker = LocalBroker(args.home).stop()
    if stopped_cluster:
        _err("cluster stopped")
    if stopped_broker:
        _err("broker stopped")
    if not (stopped_cluster or stopped_broker):
        _err("no broker was running")
    return 0


def _status(args: argparse.Namespace) -> int:
    if LocalCluster.exists(args.home):
        cluster = LocalCluster(args.home)
        running = cluster.status()
        nodes = running.nodes if running else {}
        for n in range(1, cluster.size + 1):
            state = nodes.get(n)
            print(f"node {n} running pid={state.pid} bootstrap={state.bootstrap}" if state else f"node {n} stopped")
        if running:
            print(f"bootstrap={running.bootstrap}")
            return 0
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
    start.add_argument(
        "--brokers",
        type=int,
        choices=(1, 3),
        default=1,
        help="1: one broker (the default); 3: three KRaft nodes, each broker and controller, topics replicated "
        "3 times with min.insync.replicas 2",
    )
    start.add_argument("--node", type=int, default=None, help="start just this stopped node of the cluster (1 to 3)")
    start.set_defaults(func=_start)

    stop = actions.add_parser("stop", help="stop the broker, or every node of the cluster")
    stop.add_argument("--home", type=Path, default=None, help=home_help)
    stop.add_argument("--node", type=int, default=None, help="stop just this node of the cluster (1 to 3)")
    stop.add_argument("--kill", action="store_true", help="with --node: SIGKILL the node, no clean shutdown")
    stop.set_defaults(func=_stop)

    status = actions.add_parser("status", help="print whether the broker (or each node) runs (exit 1 when none does)")
    status.add_argument("--home", type=Path, default=None, help=home_help)
    status.set_defaults(func=_status)
