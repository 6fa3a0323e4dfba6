"""Command-line flags made from a settings model. The model declares each setting once (its type, default, range,
choices and help, in `Field(description=...)`); here each field becomes an argparse flag with that help and default.

A flag is parsed by the model, not by argparse, so a bad value is the model's one-line error naming the flag. Only
the flags given on the command line reach the model, as keyword arguments, so the precedence is the model's own:
flag, then the environment (the model's prefix), then the default.

(pydantic-settings' `CliSettingsSource` parses into the model too, but names every flag after its field and reads
the whole model; the commands here keep their short names, `--bootstrap`, `--lake`, their subcommands, and flags
from two models on one command, `fitpipe demo`.)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import types
import typing
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from fitpipe.errors import UserError
from services.common.settings import KafkaClientSettings, KafkaCredentialsError, describe_error

Model = TypeVar("Model", bound=BaseModel)
Client = TypeVar("Client", bound=KafkaClientSettings)

#: Sign-in settings come from the environment or from the broker `fitpipe kafka start` runs, never from flags: a
#: password on a command line is visible to every user of the machine.
SIGN_IN: Final = tuple(KafkaClientSettings.model_fields)

#: What a flag's value looks like in `--help`, by the field's type.
_METAVARS: Mapping[type, str] = {int: "N", float: "NUMBER", dt.date: "YYYY-MM-DD", Path: "PATH", str: "TEXT"}


def flag_name(field: str) -> str:
    """A field's flag unless renamed: `max_records_per_file` is `--max-records-per-file`."""
    return "--" + field.replace("_", "-")


def _without_none(annotation: Any) -> Any:
    """`X | None` as `X` (and `X` as it is)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _default(info: FieldInfo) -> Any:
    return None if info.is_required() else info.get_default(call_default_factory=True)


def _shown(value: Any) -> str:
    return str(value.value if hasattr(value, "value") else value)


@dataclass(frozen=True)
class SettingsFlags(Generic[Model]):
    """The flags `add_settings_flags` made for `model`: which field each sets, and how to build the model."""

    model: type[Model]
    flags: Mapping[str, str]  # field -> its flag
    env_prefix: str

    def given(self, args: argparse.Namespace) -> dict[str, Any]:
        """The settings given as flags (and the command's own defaults for those that were not)."""
        values = {field: getattr(args, field, None) for field in self.flags}
        return {field: value for field, value in values.items() if value is not None}

    def settings(self, args: argparse.Namespace, **fixed: Any) -> Model:
        """The model from the flags given, over `fixed` (what the command decides), over the environment and the
        defaults. A bad value is a `UserError` naming its flag (or its variable, when it came from there)."""
        given = self.given(args)
        try:
            return self.model(**{**fixed, **given})
        except ValidationError as exc:
            raise UserError(describe_error(exc, self.env_prefix, {f: self.flags[f] for f in given})) from None


def add_settings_flags(
    parser: argparse.ArgumentParser,
    model: type[Model],
    *,
    exclude: Collection[str] = (),
    only: Iterable[str] | None = None,
    names: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    default_text: Mapping[str, str] | None = None,
    exclusive: Iterable[Collection[str]] = (),
) -> SettingsFlags[Model]:
    """A flag on `parser` for each field of `model` but those in `exclude` (or for those in `only`, in that order).

    `names` renames flags (field -> flag); `defaults` are the command's own defaults for some fields, over the
    model's (and its environment's); `default_text` says in words what a default is where the value would not;
    each set in `exclusive` is a group of fields of which one flag at most may be given."""
    names, defaults, default_text = names or {}, defaults or {}, default_text or {}
    fields = model.model_fields
    # The model's own settings first, then those it inherits (connection, metrics).
    own = [f for f in fields if f in vars(model).get("__annotations__", {})]
    ordered = [*own, *(f for f in fields if f not in own)]
    chosen = list(only) if only is not None else [f for f in ordered if f not in exclude]
    unknown = [f for f in [*chosen, *exclude, *names, *defaults] if f not in fields]
    if unknown:
        raise ValueError(f"{model.__name__} has no setting {', '.join(unknown)}")
    groups: dict[str, Any] = {}
    for group in exclusive:
        if not set(group) <= set(chosen):
            continue
        mutually_exclusive = parser.add_mutually_exclusive_group()
        groups |= dict.fromkeys(group, mutually_exclusive)
    env_prefix = str(model.model_config.get("env_prefix", ""))
    flags = {}
    for field in chosen:
        info = fields[field]
        flag = names.get(field, flag_name(field))
        flags[field] = flag
        help_text = _help(info, field, env_prefix, defaults, default_text)
        target = groups.get(field, parser)
        annotation = _without_none(info.annotation)
        if annotation is bool:
            target.add_argument(flag, dest=field, action=argparse.BooleanOptionalAction, default=None, help=help_text)
            continue
        if typing.get_origin(annotation) is Literal:
            metavar = "{" + ",".join(_shown(choice) for choice in typing.get_args(annotation)) + "}"
        elif typing.get_origin(annotation) is list:
            metavar = f"{_METAVARS.get(typing.get_args(annotation)[0], 'VALUE')},..."
        else:
            metavar = _METAVARS.get(annotation, "VALUE")
        target.add_argument(flag, dest=field, metavar=metavar, default=defaults.get(field), help=help_text)
    return SettingsFlags(model, flags, env_prefix)


def _help(
    info: FieldInfo, field: str, env_prefix: str, defaults: Mapping[str, Any], default_text: Mapping[str, str]
) -> str:
    """The field's description, its default (unless the description says it), and its environment variable."""
    text = info.description or ""
    notes = []
    if field in default_text:
        notes.append(f"default: {default_text[field]}")
    elif field in defaults:
        notes.append(f"default: {_shown(defaults[field])}")
    elif "default" not in text and _default(info) is not None:
        notes.append(f"default: {_shown(_default(info))}")
    if env_prefix and field not in defaults:
        notes.append(f"env {env_prefix}{field.upper()}")
    if notes:
        text += f" ({'; '.join(notes)})"
    return text.replace("%", "%%")


def kafka_client_settings(args: argparse.Namespace, user: str, **fixed: Any) -> Client:
    """A Kafka client's settings from the command's flags (`args.settings_flags`), over `fixed`, over the environment;
    without a broker named by flag or variable, the one `fitpipe kafka start` runs, signed in as `user` when it runs
    with --secure. The sign-in secret, if one is named, is read once and now."""
    from fitpipe.kafka import LocalBroker, running_broker

    flags: SettingsFlags[Client] = args.settings_flags
    if args.bootstrap_servers is None and not os.environ.get(f"{flags.env_prefix}BOOTSTRAP_SERVERS"):
        state = running_broker()
        if state is None:
            raise UserError(
                "no Kafka broker given: start one with `fitpipe kafka start`, or pass --bootstrap HOST:PORT"
            )
        sign_in = LocalBroker(secure=True).client_settings(user) if state.secure else {}
        fixed = {"bootstrap_servers": state.bootstrap, **sign_in, **fixed}
    settings = flags.settings(args, **fixed)
    try:
        settings.kafka_security()
    except KafkaCredentialsError as exc:
        raise UserError(str(exc)) from None
    return settings
