"""The command-line flags are made from the settings models: every setting has its flag (or is left out on purpose),
a flag beats the environment, which beats the default, and a bad value is one line naming its flag."""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
from typing import Literal

import pytest
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from fitpipe import produce as producer_cli
from fitpipe.cli import build_parser
from fitpipe.errors import UserError
from fitpipe.settings_flags import SIGN_IN, add_settings_flags
from services.consumer.settings import ConsumerSettings
from services.producer.settings import ProducerSettings
from tests.conftest import REPO_ROOT


def _subparser(*path: str) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in path:
        (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    return parser


def _dests(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {action.dest: action for action in parser._actions}


@pytest.mark.parametrize(
    ("path", "model", "excluded"),
    [
        (("produce", "simulate"), ProducerSettings, {*SIGN_IN, "replay_dir"}),
        (("produce", "replay"), ProducerSettings, {*SIGN_IN, "replay_dir", *producer_cli.SIMULATION}),
        (("consume",), ConsumerSettings, set(SIGN_IN)),
    ],
)
def test_every_setting_has_its_flag_or_is_left_out_on_purpose(path, model, excluded) -> None:
    actions = _dests(_subparser(*path))
    assert excluded < set(model.model_fields)
    for name, info in model.model_fields.items():
        assert info.description, f"{model.__name__}.{name} has no description"
        if name in excluded:
            assert name not in actions, f"{name} is excluded but has a flag"
            continue
        assert name in actions, f"{name} has no flag on fitpipe {' '.join(path)}"
        assert actions[name].help.startswith(info.description.replace("%", "%%"))
        assert f"env {model.model_config['env_prefix']}{name.upper()}" in actions[name].help


def test_the_documented_flag_names_stay() -> None:
    produce = _subparser("produce", "simulate")
    consume = _subparser("consume")
    produce_flags = {s for a in produce._actions for s in a.option_strings}
    consume_flags = {s for a in consume._actions for s in a.option_strings}
    assert {"--bootstrap", "--users", "--user-ids", "--start-date", "--days", "--mode", "--speed"} <= produce_flags
    assert {"--no-progress", "--compression", "--topic", "--partitions", "--seed", "-v"} <= produce_flags
    assert {
        "--bootstrap",
        "--lake",
        "--group",
        "--format",
        "--flush-interval",
        "--max-records-per-file",
    } <= consume_flags
    assert {"--s3-bucket", "--s3-endpoint-url", "--until-caught-up", "-v"} <= consume_flags
    assert {"--users", "--days", "--start", "--seed", "--replay", "--partitions", "--format"} <= {
        s for a in _subparser("demo")._actions for s in a.option_strings
    }


def test_help_shows_each_default_and_variable() -> None:
    text = _subparser("consume").format_help()
    assert "records per file at most (default: 250000; env CONSUMER_MAX_RECORDS_PER_FILE)" in " ".join(text.split())
    assert "{jsonl.gz,jsonl,parquet}" in text
    text = " ".join(_subparser("produce", "simulate").format_help().split())
    assert "--compression {lz4,zstd,gzip,snappy,none}" in text
    assert "number of simulated days (default: 7; env PRODUCER_DAYS)" in text


def test_a_flag_beats_the_environment_which_beats_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    parser = build_parser()
    args = parser.parse_args(["consume", "--topic", "from-flag", "--max-records-per-file", "10", "--log-batches"])
    monkeypatch.setenv("CONSUMER_TOPIC", "from-env")
    monkeypatch.setenv("CONSUMER_GROUP_ID", "group-from-env")
    settings = args.settings_flags.settings(args)
    assert (settings.topic, settings.max_records_per_file, settings.log_batches) == ("from-flag", 10, True)
    assert settings.group_id == "group-from-env"
    assert settings.flush_interval_s == ConsumerSettings.model_fields["flush_interval_s"].default

    args = parser.parse_args(["produce", "simulate", "--no-progress", "--start-date", "2016-04-19"])
    monkeypatch.setenv("PRODUCER_DAYS", "3")
    monkeypatch.setenv("PRODUCER_PROGRESS", "true")
    settings = args.settings_flags.settings(args, replay_dir=None)
    assert (settings.progress, settings.start_date, settings.days) == (False, dt.date(2016, 4, 19), 3)


def test_a_bad_flag_names_the_flag_and_a_bad_variable_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    parser = build_parser()
    args = parser.parse_args(["produce", "simulate", "--days", "0", "--mode", "sometimes"])
    monkeypatch.setenv("PRODUCER_USERS", "many")
    with pytest.raises(UserError) as raised:
        args.settings_flags.settings(args)
    message = str(raised.value)
    assert "--days: Input should be greater than or equal to 1" in message
    assert "--mode: Input should be 'backfill' or 'live'" in message
    assert "PRODUCER_USERS: Input should be a valid integer" in message


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["consume", "--bootstrap", "k:1", "--max-records-per-file", "lots"], "--max-records-per-file"),
        (["consume", "--bootstrap", "k:1", "--format", "xml"], "--format"),
        (["produce", "simulate", "--bootstrap", "k:1", "--speed", "-1"], "--speed"),
        (["realism", "--start", "2016-02-30"], "--start"),
        (["demo", "--users", "0"], "--users"),
    ],
)
def test_a_bad_value_is_one_line_and_exit_2(args: list[str], flag: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fitpipe", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"fitpipe {args[0]}: error: {flag}: ")
    assert "Traceback" not in done.stderr


# -- the generator alone, on a model of its own ------------------------------------------------------------------------


class _Example(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EXAMPLE_")

    colour: Literal["red", "green"] = Field("red", description="a colour")
    count: int = Field(2, ge=1, description="how many")
    loud: bool | None = Field(None, description="shout (default: when asked)")
    ids: list[int] | None = Field(None, description="ids")
    secret: str | None = Field(None, description="not for a command line")


def test_the_generator_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    parser = argparse.ArgumentParser(prog="example")
    flags = add_settings_flags(
        parser, _Example, exclude=("secret",), names={"count": "-n"}, exclusive=[("count", "ids")]
    )
    assert flags.flags == {"colour": "--colour", "count": "-n", "loud": "--loud", "ids": "--ids"}
    assert "secret" not in _dests(parser)
    text = " ".join(parser.format_help().split())
    assert "--colour {red,green} a colour (default: red; env EXAMPLE_COLOUR)" in text
    assert "--loud, --no-loud shout (default: when asked) (env EXAMPLE_LOUD)" in text
    with pytest.raises(SystemExit):
        parser.parse_args(["-n", "3", "--ids", "[1]"])  # one of the two at most

    monkeypatch.setenv("EXAMPLE_COUNT", "5")
    assert flags.settings(parser.parse_args([])).count == 5
    assert flags.settings(parser.parse_args(["-n", "7", "--no-loud"])).model_dump(include={"count", "loud"}) == {
        "count": 7,
        "loud": False,
    }
    with pytest.raises(UserError, match=r"^-n: Input should be greater than or equal to 1$"):
        flags.settings(parser.parse_args(["-n", "0"]))
    with pytest.raises(ValueError, match="has no setting nope"):
        add_settings_flags(argparse.ArgumentParser(), _Example, exclude=("nope",))


def test_a_plain_model_gets_flags_without_variables() -> None:
    class Plain(BaseModel):
        start: dt.date = Field(dt.date(2016, 4, 12), description="first day")

    parser = argparse.ArgumentParser()
    flags = add_settings_flags(parser, Plain)
    assert "first day (default: 2016-04-12)" in " ".join(parser.format_help().split())
    assert flags.settings(parser.parse_args(["--start", "2016-05-01"])).start == dt.date(2016, 5, 1)


def test_the_docs_list_every_consumer_setting() -> None:
    docs = (REPO_ROOT / "docs" / "consumer.md").read_text()
    missing = [name for name in ConsumerSettings.model_fields if f"`CONSUMER_{name.upper()}`" not in docs]
    assert not missing, f"docs/consumer.md's settings table lacks {missing}"
