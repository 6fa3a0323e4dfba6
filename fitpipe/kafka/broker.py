"""Fetch, start and stop a local Apache Kafka broker.

The broker's jars come from Maven Central through `mvn` and the pom beside this file, and are cached outside the
repository. The broker runs on the machine's Java (17 or newer) in KRaft mode, as one combined broker and
controller bound to 127.0.0.1.

`secure=True` gives it the AWS host's security inside the host: every listener (the controller's too) takes only
SASL/SCRAM-SHA-512 sign-ins, the users of `core.kafka_access` are created with random passwords when the
storage is formatted (kept in `credentials.json`, mode 0600, in the broker's home), the `StandardAuthorizer` denies
whatever no ACL allows, and the topics and ACLs of the services are in place before `start` returns. The broker's
`server.properties`, which holds the admin's password in its JAAS lines, is mode 0600 too.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from fitpipe.errors import MissingPrerequisite, UserError

POM = Path(__file__).with_name("pom.xml")
_MAVEN_NS = {"m": "http://maven.apache.org/POM/4.0.0"}
_MIN_JAVA = 17


def kafka_version() -> str:
    """The Kafka version the pom fetches (one source: the pom's `kafka.version` property)."""
    node = ET.parse(POM).getroot().find("m:properties/m:kafka.version", _MAVEN_NS)
    assert node is not None and node.text, f"{POM} has no kafka.version property"
    return node.text.strip()


def _xdg(var: str, fallback: str) -> Path:
    return Path(os.environ.get(var) or Path.home() / fallback)


def default_cache_dir() -> Path:
    return Path(os.environ.get("FITPIPE_CACHE_DIR") or _xdg("XDG_CACHE_HOME", ".cache") / "fitness-pipeline")


def default_home() -> Path:
    return Path(
        os.environ.get("FITPIPE_KAFKA_HOME") or _xdg("XDG_STATE_HOME", ".local/state") / "fitness-pipeline/kafka"
    )


def _require(program: str, install_hint: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise MissingPrerequisite(f"`{program}` is not on the PATH: install {install_hint}")
    return path


def require_java() -> str:
    java = _require("java", "a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)")
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if match:
        major = int(match.group(1)) if match.group(1) != "1" else int(match.group(2) or 0)
        if major < _MIN_JAVA:
            raise MissingPrerequisite(
                f"Kafka needs Java {_MIN_JAVA}+, found Java {major} at {java}: install a newer JDK"
            )
    return java


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable and writable by the owner only (mode 0600), whatever the umask, and whether
    or not the file existed before with wider rights."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(text)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _libs_dir(cache_dir: Path | None) -> Path:
    return (cache_dir or default_cache_dir()) / f"kafka-{kafka_version()}" / "libs"


def _require_mvn() -> str:
    return _require("mvn", "Apache Maven (Debian: apt-get install maven)")


def check_prerequisites(cache_dir: Path | None = None) -> None:
    """Fail with one line naming what to install: Java always, Maven when the jars are not cached yet."""
    require_java()
    if not (_libs_dir(cache_dir) / ".complete").exists():
        _require_mvn()


def fetch_jars(cache_dir: Path | None = None, quiet: bool = True) -> Path:
    """The folder of the broker's jars, fetched with `mvn` on first use and cached."""
    libs = _libs_dir(cache_dir)
    if (libs / ".complete").exists():
        return libs
    mvn = _require_mvn()
    libs.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="libs-", dir=libs.parent))
    cmd = [
        mvn,
        "-B",
        "-f",
        str(POM),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={staging}",
        "-DincludeScope=runtime",
    ]
    if quiet:
        cmd.insert(1, "-q")
    result = subprocess.run(cmd, capture_output=quiet, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        detail = (result.stdout or "").strip().splitlines()[-1:] if quiet else []
        raise UserError(f"mvn could not fetch Kafka {kafka_version()} from Maven Central ({' '.join(detail)})")
    (staging / ".complete").touch()
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    return libs


@dataclass
class BrokerState:
    pid: int
    port: int
    controller_port: int
    secure: bool = False

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


class LocalBroker:
    """One KRaft broker+controller whose config, data and logs live in `home`."""

    def __init__(self, home: Path | None = None, cache_dir: Path | None = None, secure: bool = False):
        self.home = Path(home or default_home()).resolve()
        self.cache_dir = cache_dir
        self.secure = secure
        self._process: subprocess.Popen[bytes] | None = None

    # -- paths ---------------------------------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.home / "broker.json"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "server.log"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def credentials_file(self) -> Path:
        return self.home / "credentials.json"

    # -- users (secure mode) ---------------------------------------------------------------------------------------
    def passwords(self) -> dict[str, str]:
        """Each Kafka user's password, made once per home (the storage keeps the users from its first format)."""
        from core.kafka_access import USERS

        try:
            known = json.loads(self.credentials_file.read_text())
        except FileNotFoundError:
            known = {}
        if set(known) != set(USERS):
            if (self.data_dir / "meta.properties").exists():
                raise UserError(f"{self.home} holds a broker formatted without these users; use another --home")
            known = {user: secrets.token_urlsafe(24) for user in USERS}
            self.home.mkdir(parents=True, exist_ok=True)
            write_private(self.credentials_file, json.dumps(known))
        return known

    def client_settings(self, user: str) -> dict[str, str]:
        """The services' settings (`*_SECURITY_PROTOCOL`, `*_SASL_*`) that sign in to this broker as `user`."""
        return {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_username": user,
            "sasl_password": self.passwords()[user],
        }

    def client_config(self, user: str) -> dict[str, str]:
        """The librdkafka settings of a client that signs in as `user` (a secure broker; PLAINTEXT otherwise)."""
        if not self.secure:
            return {"security.protocol": "plaintext"}
        from services.common.settings import SASL_MECHANISM

        return {
            "security.protocol": "sasl_plaintext",
            "sasl.mechanisms": SASL_MECHANISM,
            "sasl.username": user,
            "sasl.password": self.passwords()[user],
        }

    # -- state ---------------------------------------------------------------------------------------------------
    def _read_state(self) -> BrokerState | None:
        try:
            return BrokerState(**json.loads(self.state_file.read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def _is_ours(self, pid: int) -> bool:
        """True when `pid` is alive and is the broker started with this home (not a reused pid)."""
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return False
        except OSError:
            return False
        return b"kafka.Kafka" in cmdline and str(self.home).encode() in cmdline

    def status(self) -> BrokerState | None:
        """The running broker's state, or None when it is not running."""
        state = self._read_state()
        if state is None or not self._is_ours(state.pid):
            return None
        return state

    # -- start and stop ------------------------------------------------------------------------------------------
    def _security_properties(self) -> list[str]:
        """SASL/SCRAM on both listeners, the broker signing in as the admin user, and ACLs that deny by default."""
        if not self.secure:
            return ["listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"]
        from core.kafka_access import ADMIN_USER, principal
        from services.common.settings import SASL_MECHANISM

        password = self.passwords()[ADMIN_USER]
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{ADMIN_USER}" password="{password}";'
        )
        return [
            "listener.security.protocol.map=PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
            f"sasl.enabled.mechanisms={SASL_MECHANISM}",
            f"sasl.mechanism.inter.broker.protocol={SASL_MECHANISM}",
            f"sasl.mechanism.controller.protocol={SASL_MECHANISM}",
            f"listener.name.plaintext.{SASL_MECHANISM.lower()}.sasl.jaas.config={jaas}",
            f"listener.name.controller.{SASL_MECHANISM.lower()}.sasl.jaas.config={jaas}",
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found=false",
            f"super.users={principal(ADMIN_USER)}",
        ]

    def _server_properties(self, port: int, controller_port: int) -> list[str]:
        return [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER",
            *self._security_properties(),
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={self.data_dir}",
            "num.partitions=1",
            "offsets.topic.replication.factor=1",
            # One broker: a few partitions for the group offsets are plenty, and they load at once.
            "offsets.topic.num.partitions=5",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "log.retention.hours=168",
        ]

    def _write_config(self, port: int, controller_port: int) -> Path:
        config = self.home / "server.properties"
        # The admin's JAAS lines (secure mode) hold its password: the owner alone may read the file.
        write_private(config, "\n".join([*self._server_properties(port, controller_port), ""]))
        log4j = self.home / "log4j2.properties"
        log4j.write_text(
            "\n".join(
                [
                    "rootLogger.level=INFO",
                    "rootLogger.appenderRef.file.ref=FILE",
                    "appender.file.type=File",
                    "appender.file.name=FILE",
                    f"appender.file.fileName={self.log_file}",
                    "appender.file.layout.type=PatternLayout",
                    "appender.file.layout.pattern=[%d] %p %m (%c)%n",
                    "logger.kafka.name=kafka",
                    "logger.kafka.level=INFO",
                    "logger.apache.name=org.apache.kafka",
                    "logger.apache.level=WARN",
                    "",
                ]
            )
        )
        return config

    def _java_cmd(self, java: str, libs: Path, main_class: str, *args: str) -> list[str]:
        heap = os.environ.get("FITPIPE_KAFKA_HEAP", "1g")
        return [
            java,
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            "-cp",
            f"{libs}/*",
            main_class,
            *args,
        ]

    def _format_storage(self, java: str, libs: Path, config: Path, cluster_id: str | None = None) -> None:
        if (self.data_dir / "meta.properties").exists():
            return
        cluster_id = cluster_id or base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # `--cluster-id=ID` in one argument: a random id may start with "-", which would read as an option.
        cmd = self._java_cmd(
            java, libs, "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "--config", str(config)
        )
        if self.secure:
            from services.common.settings import SASL_MECHANISM

            for user, password in self.passwords().items():
                cmd += ["--add-scram", f"{SASL_MECHANISM}=[name={user},password={password}]"]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise UserError(f"formatting KRaft storage in {self.data_dir} failed: {result.stderr.strip()[-300:]}")

    def start(self, port: int | None = None, timeout: float = 90.0) -> str:
        """Start the broker (or find it running) and return its bootstrap address once it answers."""
        running = self.status()
        if running:
            if port and port != running.port:
                raise UserError(f"a broker is already running from {self.home} on port {running.port}; stop it first")
            if running.secure != self.secure:
                kind = "with" if running.secure else "without"
                raise UserError(f"a broker {kind} --secure is already running from {self.home}; stop it first")
            return running.bootstrap
        previous = self._read_state()
        port = port or (previous.port if previous and not _port_open(previous.port) else free_port())
        controller_port = free_port()
        while controller_port == port:
            controller_port = free_port()
        if _port_open(port):
            raise UserError(f"port {port} on 127.0.0.1 is already in use; pick another with --port")
        state = self.launch(port, controller_port)
        self._wait_ready(state, timeout)
        if self.secure:
            self._apply_access(state)
        return state.bootstrap

    def launch(self, port: int, controller_port: int, cluster_id: str | None = None) -> BrokerState:
        """Write the config, format the storage on first use and start the process; it answers a little later."""
        java = require_java()
        libs = fetch_jars(self.cache_dir)
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        config = self._write_config(port, controller_port)
        self._format_storage(java, libs, config, cluster_id)
        with open(self.home / "logs" / "stdout.log", "ab") as out:
            self._process = subprocess.Popen(
                self._java_cmd(java, libs, "kafka.Kafka", str(config)),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.home,
                start_new_session=True,
            )
        state = BrokerState(pid=self._process.pid, port=port, controller_port=controller_port, secure=self.secure)
        self.state_file.write_text(json.dumps(state.__dict__))
        return state

    def admin_client(self, bootstrap: str | None = None):
        """An AdminClient signed in as the admin user (plain on a broker without security)."""
        from confluent_kafka.admin import AdminClient

        from core.kafka_access import ADMIN_USER
        from services.common.kafka_logs import client_logging

        state = self.status()
        bootstrap = bootstrap or (state.bootstrap if state else "")
        config = {"bootstrap.servers": bootstrap, **client_logging("fitpipe.kafka"), **self.client_config(ADMIN_USER)}
        return AdminClient(config)

    def _apply_access(self, state: BrokerState) -> None:
        from confluent_kafka import KafkaException

        from services.common import kafka_admin

        try:
            kafka_admin.apply(self.admin_client(state.bootstrap))
        except (KafkaException, RuntimeError) as exc:
            self.stop()
            raise UserError(f"could not set up the topics and ACLs: {exc}; see {self.log_file}") from None

    def _ready_config(self) -> dict[str, str]:
        from core.kafka_access import ADMIN_USER

        return self.client_config(ADMIN_USER)

    def _answers(self, metadata) -> bool:
        return bool(metadata.brokers)

    def _wait_ready(self, state: BrokerState, timeout: float) -> None:
        from confluent_kafka.admin import AdminClient

        from services.common.kafka_logs import client_logging

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise UserError(f"the broker exited at start (code {self._process.returncode}); see {self.log_file}")
            if _port_open(state.port):
                admin = AdminClient(
                    {"bootstrap.servers": state.bootstrap, **client_logging("fitpipe.kafka"), **self._ready_config()}
                )
                try:
                    if self._answers(admin.list_topics(timeout=5)):
                        return
                except Exception:  # not answering yet: try again until the deadline
                    pass
            time.sleep(0.2)
        self.stop()
        raise UserError(f"the broker did not answer within {timeout:.0f} s; see {self.log_file}")

    def stop(self, timeout: float = 30.0, kill: bool = False) -> bool:
        """Stop the broker cleanly (SIGTERM, then SIGKILL after `timeout`), or at once with `kill`. False when none
        was running."""
        state = self.status()
        if state is None:
            self.state_file.unlink(missing_ok=True)
            return False
        self.signal_stop(state, kill)
        self.wait_stopped(state, timeout)
        return True

    def signal_stop(self, state: BrokerState, kill: bool = False) -> None:
        os.kill(state.pid, signal.SIGKILL if kill else signal.SIGTERM)

    def wait_stopped(self, state: BrokerState, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self._alive(state.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if self._alive(state.pid):
            os.kill(state.pid, signal.SIGKILL)
            while self._alive(state.pid):
                time.sleep(0.05)
        self.state_file.unlink(missing_ok=True)

    def _alive(self, pid: int) -> bool:
        if self._process is not None and self._process.pid == pid:
            return self._process.poll() is None
        return self._is_ours(pid)


#: What a cluster's nodes set beyond a lone broker: every topic, the group offsets and the transaction log on three
#: nodes, and a write acknowledged by all replicas in sync, at least two, so one node can be lost without losing it.
CLUSTER_REPLICATION = {
    "default.replication.factor": "3",
    "min.insync.replicas": "2",
    "offsets.topic.replication.factor": "3",
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
    "share.coordinator.state.topic.replication.factor": "3",
    "share.coordinator.state.topic.min.isr": "2",
}


class ClusterNode(LocalBroker):
    """One combined broker and controller of a local cluster: a voter of the static controller quorum."""

    def __init__(self, home: Path, node_id: int, voters: str, cache_dir: Path | None = None):
        super().__init__(home, cache_dir)
        self.node_id = node_id
        self.voters = voters

    def _server_properties(self, port: int, controller_port: int) -> list[str]:
        settings = dict(line.split("=", 1) for line in super()._server_properties(port, controller_port))
        settings |= {"node.id": str(self.node_id), "controller.quorum.voters": self.voters, **CLUSTER_REPLICATION}
        return [f"{key}={value}" for key, value in settings.items()]

    def _answers(self, metadata) -> bool:
        """Ready once the cluster's metadata lists this node among the brokers (it has registered, or rejoined)."""
        return self.node_id in metadata.brokers


@dataclass
class ClusterState:
    """The bootstrap of the nodes of a local cluster that run now (what the services connect to)."""

    nodes: dict[int, BrokerState]
    secure: bool = False

    @property
    def bootstrap(self) -> str:
        return ",".join(state.bootstrap for _, state in sorted(self.nodes.items()))


class LocalCluster:
    """`size` KRaft nodes on this machine, each a combined broker and controller with its own ports, data, log and
    pid in `home/node-N`; the nodes form a static controller quorum (`controller.quorum.voters`) of `size` voters,
    so the metadata, like the topics (replication factor 3, `min.insync.replicas` 2), survives one node's loss."""

    def __init__(self, home: Path | None = None, size: int = 3, cache_dir: Path | None = None):
        self.home = Path(home or default_home()).resolve()
        self.cache_dir = cache_dir
        layout = self._read_layout()
        self.size = layout["size"] if layout else size

    @property
    def layout_file(self) -> Path:
        return self.home / "cluster.json"

    def node_home(self, node_id: int) -> Path:
        return self.home / f"node-{node_id}"

    def _read_layout(self) -> dict | None:
        try:
            return json.loads(self.layout_file.read_text())
        except (FileNotFoundError, ValueError):
            return None

    @classmethod
    def exists(cls, home: Path | None = None) -> bool:
        return (Path(home or default_home()).resolve() / "cluster.json").exists()

    def _nodes(self, layout: dict) -> dict[int, ClusterNode]:
        voters = ",".join(f"{n}@127.0.0.1:{port}" for n, port in enumerate(layout["controller_ports"], start=1))
        return {n: ClusterNode(self.node_home(n), n, voters, self.cache_dir) for n in range(1, layout["size"] + 1)}

    def node(self, node_id: int) -> ClusterNode:
        layout = self._read_layout()
        if layout is None:
            raise UserError(f"no cluster in {self.home}: start one with `fitpipe kafka start --brokers 3`")
        if not 1 <= node_id <= layout["size"]:
            raise UserError(f"the cluster in {self.home} has nodes 1 to {layout['size']}, not {node_id}")
        return self._nodes(layout)[node_id]

    def status(self) -> ClusterState | None:
        """The nodes that run now, or None when none does."""
        layout = self._read_layout()
        if layout is None:
            return None
        running = {n: state for n, node in self._nodes(layout).items() if (state := node.status())}
        return ClusterState(running) if running else None

    def _choose_ports(self) -> dict:
        """The last run's ports when all are free (clients keep their address), otherwise fresh ones."""
        previous = self._read_layout()
        if previous and not any(_port_open(p) for p in previous["ports"] + previous["controller_ports"]):
            return previous
        ports: set[int] = set()
        while len(ports) < 2 * self.size:
            ports.add(free_port())
        chosen = sorted(ports)
        cluster_id = previous["cluster_id"] if previous else None
        return {
            "size": self.size,
            "cluster_id": cluster_id or base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="),
            "ports": chosen[: self.size],
            "controller_ports": chosen[self.size :],
        }

    def start(self, timeout: float = 90.0) -> str:
        """Start every node that is not running (all at once, since a quorum needs a majority) and return the
        bootstrap once each has registered."""
        running = self.status()
        layout = self._read_layout() if running else self._choose_ports()
        self.home.mkdir(parents=True, exist_ok=True)
        self.layout_file.write_text(json.dumps(layout))
        nodes = self._nodes(layout)
        launched = {}
        for n, node in nodes.items():
            if node.status() is None:
                launched[n] = node.launch(
                    layout["ports"][n - 1], layout["controller_ports"][n - 1], layout["cluster_id"]
                )
        try:
            for n, state in launched.items():
                nodes[n]._wait_ready(state, timeout)
        except UserError:
            self.stop()
            raise
        return self.status().bootstrap  # type: ignore[union-attr]

    def start_node(self, node_id: int, timeout: float = 90.0) -> str:
        """Start one stopped node of an existing cluster on its own ports; return its address once it has
        rejoined."""
        node = self.node(node_id)
        layout = self._read_layout()
        assert layout is not None
        if (state := node.status()) is not None:
            return state.bootstrap
        state = node.launch(layout["ports"][node_id - 1], layout["controller_ports"][node_id - 1], layout["cluster_id"])
        node._wait_ready(state, timeout)
        return state.bootstrap

    def stop_node(self, node_id: int, kill: bool = False, timeout: float = 30.0) -> bool:
        """Stop one node (SIGTERM, a controlled shutdown), or SIGKILL it with `kill`. False when it was not
        running."""
        return self.node(node_id).stop(timeout=timeout, kill=kill)

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop every node: SIGTERM to all at once, SIGKILL to any still running after `timeout`. A node left
        without a quorum cannot finish its controlled shutdown and would wait for a controller that is gone; the
        kill is safe, since the next start recovers its log."""
        layout = self._read_layout()
        if layout is None:
            return False
        stopping = [(node, state) for node in self._nodes(layout).values() if (state := node.status())]
        for node, state in stopping:
            node.signal_stop(state)
        for node, state in stopping:
            node.wait_stopped(state, timeout)
        return bool(stopping)


def running_broker(home: Path | None = None) -> BrokerState | ClusterState | None:
    """What `fitpipe kafka start` runs from `home`: the lone broker, the nodes of a cluster that run, or None."""
    if LocalCluster.exists(home):
        return LocalCluster(home).status()
    return LocalBroker(home).status()
