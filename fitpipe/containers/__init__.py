"""Local stand-ins for the two public images the services' Dockerfile and the host's compose file name, for machines
that cannot pull from Docker Hub: `python:3.11-slim` and `apache/kafka:<the pom's version>`, built under those exact
names with podman, so `services/Dockerfile` and `stacks/host/compose.yaml` run unmodified.

- `python:3.11-slim`: a Debian bookworm root file system made with mmdebstrap (Python 3.11, pip), with the real
  image's paths (`/usr/local/bin/python`, `python3`, `pip`, `pip3`) and pip allowed to install into the system.
- `apache/kafka`: Kafka's jars from Maven Central (those `fitpipe kafka fetch` caches) on a Debian Java runtime, laid
  out as the real image lays out its files, with entry scripts that do what its published ones do (`kafka/`).

Each image carries a label with the hash of what it was built from; a build is skipped when an image of that name
has the hash of the current inputs, so podman's storage keeps them between runs. docs/stand-in-images.md lists every
way they differ from the real images.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from fitpipe.errors import MissingPrerequisite, UserError
from fitpipe.kafka.broker import fetch_jars, kafka_version

HERE = Path(__file__).resolve().parent
KAFKA_FILES = HERE / "kafka"
PYTHON_IMAGE = "docker.io/library/python:3.11-slim"
#: The Debian release of both bases: its Python is 3.11, as the real image's.
SUITE = "bookworm"
INPUTS_LABEL = "io.fitness-pipeline.inputs"
#: The certificate authorities of the host: the network's proxy may re-sign TLS, so pip in a build must trust them.
HOST_CA_DIR = Path("/usr/local/share/ca-certificates")
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
PYTHON_PACKAGES = ["python3", "python3-pip", "python3-venv", "ca-certificates"]
JRE_PACKAGES = ["openjdk-17-jre-headless", "bash", "procps", "ca-certificates"]


def kafka_image() -> str:
    return f"docker.io/apache/kafka:{kafka_version()}"


def podman() -> str:
    path = shutil.which("podman")
    if path is None:
        raise MissingPrerequisite("`podman` is not on the PATH: install it (make setup does: Debian's podman and runc)")
    return path


def _host_cas() -> list[Path]:
    return sorted(HOST_CA_DIR.glob("*.crt")) if HOST_CA_DIR.is_dir() else []


def _digest(*parts: str | bytes | Path) -> str:
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            files = sorted(p for p in part.rglob("*") if p.is_file()) if part.is_dir() else [part]
            for file in files:
                digest.update(str(file.relative_to(part) if part.is_dir() else file.name).encode())
                digest.update(file.read_bytes())
        else:
            digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()[:32]


def image_inputs(name: str) -> str | None:
    """The input hash of the image `name` holds, or None when there is no such image."""
    done = subprocess.run(
        [podman(), "image", "inspect", "--format", f'{{{{ index .Labels "{INPUTS_LABEL}" }}}}', name],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise UserError(f"{what} failed (exit {done.returncode}):\n{tail}")


def _debian_image(name: str, packages: list[str], inputs: str, hooks: list[str], changes: list[str]) -> None:
    """`name`: a minimal Debian root file system with `packages`, imported into podman with `changes` (Dockerfile
    instructions: ENV, CMD, ...) and the inputs label."""
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise MissingPrerequisite("`mmdebstrap` is not on the PATH: install it (make setup does)")
    with tempfile.TemporaryDirectory(prefix="rootfs-") as work:
        rootfs = Path(work) / "rootfs.tar"
        cmd = [mmdebstrap, "--quiet", "--variant=minbase", f"--include={','.join(packages)}"]
        for ca in _host_cas():
            cmd.append(f"--customize-hook=copy-in {ca} /usr/local/share/ca-certificates/")
        cmd.append('--customize-hook=chroot "$1" update-ca-certificates --fresh >/dev/null')
        cmd += [f"--customize-hook={hook}" for hook in hooks]
        # What a slim image leaves out: the package lists, documentation and caches.
        cmd.append('--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/usr/share/doc/*')
        cmd += [SUITE, str(rootfs)]
        _run(cmd, f"mmdebstrap for {name}")
        imported = [podman(), "import", "--quiet"]
        for change in [*changes, f"LABEL {INPUTS_LABEL}={inputs}"]:
            imported += ["--change", change]
        _run([*imported, str(rootfs), name], f"podman import of {name}")


def python_inputs() -> str:
    return _digest("python", SUITE, *PYTHON_PACKAGES, Path(__file__), *_host_cas())


def build_python_base(force: bool = False) -> bool:
    """`python:3.11-slim`; True when it was built, False when the existing one is current."""
    inputs = python_inputs()
    if not force and image_inputs(PYTHON_IMAGE) == inputs:
        return False
    links = " && ".join(
        f'ln -sf {target} "$1"/usr/local/bin/{link}'
        for link, target in [("python", "/usr/bin/python3"), ("python3", "/usr/bin/python3"),
                             ("pip", "/usr/bin/pip3"), ("pip3", "/usr/bin/pip3")]
    )  # fmt: skip
    hooks = [
        links,
        # The real image's Python is its own build under /usr/local, which pip may install into; Debian marks its
        # Python as managed by apt (PEP 668), which would refuse the Dockerfile's `pip install`.
        'rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED',
    ]
    changes = [
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV LANG=C.UTF-8",
        f"ENV PIP_CERT={CA_BUNDLE}",
        f"ENV SSL_CERT_FILE={CA_BUNDLE}",
        'CMD ["python3"]',
    ]
    _debian_image(PYTHON_IMAGE, PYTHON_PACKAGES, inputs, hooks, changes)
    return True


JRE_BASE = f"localhost/fitness-pipeline/jre-base:{SUITE}"


def kafka_inputs(libs: Path) -> str:
    jars = "\n".join(sorted(p.name for p in libs.glob("*.jar")))
    return _digest("kafka", kafka_version(), jars, KAFKA_FILES, Path(__file__), *JRE_PACKAGES)


def build_kafka(force: bool = False) -> bool:
    """`apache/kafka:<version>` from the cached jars; True when it was built."""
    libs = fetch_jars()
    inputs = kafka_inputs(libs)
    name = kafka_image()
    if not force and image_inputs(name) == inputs:
        return False
    base_inputs = _digest("jre", SUITE, *JRE_PACKAGES, *_host_cas())
    if force or image_inputs(JRE_BASE) != base_inputs:
        _debian_image(JRE_BASE, JRE_PACKAGES, base_inputs, [], ["ENV LANG=C.UTF-8", 'CMD ["bash"]'])
    with tempfile.TemporaryDirectory(prefix="kafka-image-") as work:
        context = Path(work)
        shutil.copytree(libs, context / "libs", ignore=shutil.ignore_patterns(".complete"))
        shutil.copytree(KAFKA_FILES / "bin", context / "bin")
        shutil.copytree(KAFKA_FILES / "docker", context / "docker")
        # Executable in the image whatever modes an installed copy of this package kept (a wheel keeps none).
        for script in [*(context / "bin").iterdir(), *(context / "docker").iterdir()]:
            script.chmod(0o644 if script.suffix in (".properties", ".yaml") else 0o755)
        cmd = [podman(), "build", "--quiet", "--pull=never", "--build-arg", f"BASE={JRE_BASE}"]
        cmd += ["--label", f"{INPUTS_LABEL}={inputs}", "-f", str(KAFKA_FILES / "Containerfile"), "-t", name]
        _run([*cmd, str(context)], f"podman build of {name}")
    return True


def build_stand_ins(force: bool = False) -> list[str]:
    """Both stand-ins, each built only when missing or out of date; the names of those built."""
    built = []
    if build_python_base(force):
        built.append(PYTHON_IMAGE)
    if build_kafka(force):
        built.append(kafka_image())
    return built
