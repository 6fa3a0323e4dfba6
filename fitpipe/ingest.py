"""`fitpipe ingest serve|keys`: the HTTP front end on one machine, and the API keys that say who may write what.

`fitpipe ingest serve` runs the service (`python -m services.ingest`) against the broker `fitpipe kafka start` runs,
unless a broker is named. `fitpipe ingest keys create --client NAME --users ID,...` prints a new key once; only its
hash is stored. `fitpipe produce simulate --via URL` sends the simulator's records through the front end
(`send_via`).
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final

from core.kafka_access import PRODUCER_USER
from fitpipe.errors import UserError
from fitpipe.settings_flags import SIGN_IN, add_settings_flags, kafka_client_settings
from services.ingest.settings import ENV_PREFIX, IngestSettings

#: The environment variable a client's API key is read from (a key on a command line is visible to every user).
KEY_ENV: Final = "FITPIPE_INGEST_KEY"
#: Records per request when sending through the front end.
BATCH: Final = 1000
_FLAG_NAMES: Final = {"bootstrap_servers": "--bootstrap"}


def _keys_file(args: argparse.Namespace) -> Path:
    """--keys-file, else INGEST_KEYS_FILE, else the service's default: the store `serve` reads."""
    given = args.keys_file or os.environ.get(f"{ENV_PREFIX}KEYS_FILE")
    return Path(given) if given else Path(IngestSettings.model_fields["keys_file"].get_default())


def _serve(args: argparse.Namespace) -> int:
    from services.ingest.__main__ import check_settings, serve

    settings = kafka_client_settings(args, PRODUCER_USER)
    # The server's worker builds the app from the environment: every setting resolved here goes there.
    for name, value in settings.model_dump(exclude_none=True).items():
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        os.environ[f"{ENV_PREFIX}{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    serve(check_settings())
    return 0


def _users(text: str) -> list[int]:
    try:
        users = [int(part) for part in text.replace(";", ",").split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--users: {text!r} is not a comma-separated list of user ids") from None
    return users


def _create(args: argparse.Namespace) -> int:
    from services.ingest import keys

    users = _users(args.users) if args.users else []
    if args.simulated is not None:
        from pydantic import ValidationError

        from services.producer.settings import ProducerSettings, describe_error
        from services.producer.simulator import user_ids

        try:  # the cohort `fitpipe produce simulate` makes: PRODUCER_USERS and PRODUCER_SEED unless given here
            simulation = ProducerSettings()
        except ValidationError as exc:
            raise UserError(describe_error(exc)) from None
        count = args.simulated or simulation.user_count
        seed = simulation.seed if args.seed is None else args.seed
        users += simulation.user_ids if simulation.user_ids and not args.simulated else user_ids(count, seed)
    try:
        key, entry = keys.create(_keys_file(args), args.client, users)
    except keys.KeyStoreError as exc:
        raise UserError(str(exc)) from None
    print(f"key {entry.id} for {entry.client!r}, {len(entry.users)} users; it is shown this once:", file=sys.stderr)
    print(key)
    return 0


def _list(args: argparse.Namespace) -> int:
    from services.ingest import keys

    try:
        entries = keys.entries(_keys_file(args))
    except keys.KeyStoreError as exc:
        raise UserError(str(exc)) from None
    for e in entries:
        shown = ",".join(map(str, e.users[:5])) + (f",... ({len(e.users)})" if len(e.users) > 5 else "")
        print(f"{e.id}\t{e.client}\t{shown}\tcreated {e.created}\t{'revoked ' + e.revoked if e.revoked else 'active'}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from services.ingest import keys

    try:
        entry = keys.revoke(_keys_file(args), args.key_id)
    except keys.KeyStoreError as exc:
        raise UserError(str(exc)) from None
    print(f"key {entry.id} of {entry.client!r} revoked {entry.revoked}", file=sys.stderr)
    return 0


def request_bodies(values: Iterable[bytes], batch: int = BATCH) -> Iterator[tuple[int, bytes]]:
    """Encoded records as gzip-compressed JSON arrays of `batch` records: (records, body)."""
    chunk: list[bytes] = []
    for value in values:
        chunk.append(value)
        if len(chunk) == batch:
            yield len(chunk), gzip.compress(b"[" + b",".join(chunk) + b"]", 1)
            chunk = []
    if chunk:
        yield len(chunk), gzip.compress(b"[" + b",".join(chunk) + b"]", 1)


def send_via(url: str, key: str, values: Iterable[bytes], batch: int = BATCH, attempts: int = 8) -> dict[str, int]:
    """POST the records to the front end at `url` in gzip batches, each with an Idempotency-Key, so that a retry
    after a 503, a 429 or a lost connection produces nothing twice. Returns the counts; raises UserError on a
    refusal no retry can fix."""
    import uuid

    import httpx
    from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

    class _Transient(Exception):
        pass

    endpoint = url.rstrip("/") + "/v1/records"
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "Content-Encoding": "gzip"}
    totals = {"requests": 0, "records": 0, "accepted": 0, "refused": 0}
    with httpx.Client(timeout=30.0) as client:

        @retry(
            retry=retry_if_exception_type((_Transient, httpx.TransportError)),
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(0.2, max=10),
            reraise=True,
        )
        def post(body: bytes, idempotency_key: str) -> dict[str, Any]:
            response = client.post(endpoint, content=body, headers={**headers, "Idempotency-Key": idempotency_key})
            if response.status_code in (429, 503) or response.status_code >= 500:
                raise _Transient(f"{response.status_code}: {response.text[:200]}")
            if response.status_code != 200:
                raise UserError(f"{endpoint} refused a request: {response.status_code} {response.text[:300]}")
            return response.json()

        for count, body in request_bodies(values, batch):
            try:
                result = post(body, uuid.uuid4().hex)
            except (_Transient, httpx.TransportError) as exc:
                raise UserError(f"{endpoint} did not take the records after {attempts} tries: {exc}") from None
            totals["requests"] += 1
            totals["records"] += count
            totals["accepted"] += result["accepted"]
            totals["refused"] += len(result["refused"])
    return totals


def register(subparsers: argparse._SubParsersAction) -> None:
    ingest = subparsers.add_parser(
        "ingest",
        help="the HTTP front end: serve it, manage its API keys",
        description="The HTTP front end devices and apps send records to; each API key may write only its users.",
    )
    commands = ingest.add_subparsers(dest="ingest_command", metavar="COMMAND", required=True)

    serve = commands.add_parser(
        "serve",
        help="run the front end against the local broker (or --bootstrap)",
        description="Serve POST /v1/records. Every flag can also be set by its INGEST_* environment variable.",
    )
    flags = add_settings_flags(
        serve,
        IngestSettings,
        exclude=SIGN_IN,
        names=_FLAG_NAMES,
        default_text={"bootstrap_servers": "the broker `fitpipe kafka start` runs"},
    )
    serve.set_defaults(func=_serve, settings_flags=flags)

    keys = commands.add_parser("keys", help="create, list or revoke API keys (only their hashes are stored)")
    actions = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    store_help = f"the key store (default: {ENV_PREFIX}KEYS_FILE, else ingest-keys.json)"
    create = actions.add_parser("create", help="a new key for a client, bound to the user ids it may write")
    create.add_argument("--client", required=True, help="the device or app this key is for")
    create.add_argument("--users", metavar="ID,...", help="the user ids the key may write")
    create.add_argument(
        "--simulated",
        type=int,
        nargs="?",
        const=0,
        metavar="N",
        help="also the ids `fitpipe produce simulate` gives its users (N of them; default: PRODUCER_USERS, or 33)",
    )
    create.add_argument(
        "--seed", type=int, help="with --simulated: the simulation's seed (default: PRODUCER_SEED, or 42)"
    )
    create.add_argument("--keys-file", help=store_help)
    create.set_defaults(func=_create)
    listing = actions.add_parser("list", help="every key: id, client, users, created, revoked")
    listing.add_argument("--keys-file", help=store_help)
    listing.set_defaults(func=_list)
    revoke = actions.add_parser("revoke", help="revoke a key by its id (the service stops taking it within a second)")
    revoke.add_argument("key_id", help="the key's id, as `list` shows it")
    revoke.add_argument("--keys-file", help=store_help)
    revoke.set_defaults(func=_revoke)
