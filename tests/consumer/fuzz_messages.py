"""A seeded generator of hostile Kafka messages: arbitrary bytes, structure-aware mutations of valid records, keys
and headers of every kind, values near a topic's size limit. The same seed gives the same messages, so a failure
of the fuzz run replays exactly (`FUZZ_SEED=<seed>`)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from core.schema import FIELD_NAMES, FIELDS, encode
from tests.strategies import sample_record

#: What the generator meant: a valid record, a message that is surely not one, or one that may be either (an
#: extreme number that happens to be in range, say), which the schema then decides.
Intent = Literal["good", "bad", "either"]

#: Bytes that are not UTF-8: a lone continuation byte, bytes that never occur, overlong encodings (of `/`, of NUL, a
#: three- and a four-byte one), a UTF-16 surrogate, a code point beyond U+10FFFF, sequences cut short.
BAD_UTF8 = (
    b"\x80",
    b"\xbf",
    b"\xff",
    b"\xfe",
    b"\xc0\xaf",
    b"\xc0\x80",
    b"\xc1\xbf",
    b"\xe0\x80\xaf",
    b"\xf0\x80\x80\xaf",
    b"\xed\xa0\x80",
    b"\xed\xbf\xbf",
    b"\xf4\x90\x80\x80",
    b"\xf8\x88\x80\x80\x80",
    b"\xc3",
    b"\xe2\x82",
    b"\xf0\x9f\x98",
)

#: Numbers at and beyond every edge: of int64 and uint64, of doubles, special literals JSON does not have, forms
#: JSON does not allow, and integers longer than any parser's default.
EXTREME_NUMBERS = (
    b"0",
    b"-0",
    b"0.0",
    b"-0.0",
    b"1e2",
    b"1E-2",
    b"100.0",
    b"1e-400",
    b"1e400",
    b"-1e400",
    b"1.7976931348623157e308",
    b"4.9e-324",
    b"9223372036854775807",
    b"9223372036854775808",
    b"-9223372036854775808",
    b"-9223372036854775809",
    b"18446744073709551615",
    b"18446744073709551616",
    b"1180591620717411303424",
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"+1",
    b"01",
    b".5",
    b"5.",
    b"0x10",
    b"1_000",
    b"9" * 5000,
    b"1" + b"0" * 400 + b".5",
)

WRONG_VALUES: tuple[Any, ...] = (None, True, False, "", "12", [], [1], {}, {"a": 1}, 1.5, -1, 2**63 - 1, "2016-04-12")


@dataclass
class FuzzMessage:
    value: bytes | None
    key: bytes | None
    headers: list[tuple[str, bytes | None]] | None
    intent: Intent
    kind: str
    #: Larger than the topic takes: the broker must refuse it, and it is never read.
    oversized: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class Generator:
    """Messages of every kind, from one seed. Each valid record has an id of its own, so the lake's lines can be
    matched to the messages that should have landed."""

    def __init__(self, seed: int, size_limit: int):
        self.rng = random.Random(seed)
        self.size_limit = size_limit
        self._next_id = 10**12

    # -- the parts ------------------------------------------------------------------------------------------------
    def record(self) -> dict[str, Any]:
        rng = self.rng
        self._next_id += 1
        in_bed = rng.random() < 0.2
        return sample_record(
            id=self._next_id,
            date=f"2016-{rng.randrange(3, 6):02d}-{rng.randrange(1, 29):02d}",
            time=f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:00",
            calories=round(rng.uniform(0.5, 12.0), rng.randrange(0, 6)),
            intensity=rng.randrange(4),
            mets=rng.randrange(10, 120),
            steps=rng.randrange(0, 150),
            sleep_value=float(rng.randrange(1, 4)) if in_bed else 0.0,
            logid=rng.randrange(1, 2**63) if in_bed else 0,
            heartrate=None if rng.random() < 0.1 else rng.randrange(40, 200),
        )

    def key(self) -> bytes | None:
        rng = self.rng
        choice = rng.randrange(8)
        if choice == 0:
            return None
        if choice == 1:
            return b""
        if choice == 2:
            return rng.randbytes(rng.randrange(1, 64))  # any bytes, not UTF-8 as often as not
        if choice == 3:
            return rng.choice(BAD_UTF8) * rng.randrange(1, 5)
        if choice == 4:
            return b"k" * rng.randrange(1_000, 10_000)  # huge
        return str(rng.randrange(10**9, 10**10)).encode()  # a user id, as the producer keys them

    def headers(self) -> list[tuple[str, bytes | None]] | None:
        rng = self.rng
        choice = rng.randrange(8)
        if choice == 0:
            return None
        if choice == 1:
            return []
        if choice == 2:  # many
            return [(f"h{n}", str(n).encode()) for n in range(rng.randrange(50, 300))]
        if choice == 3:  # empty names, no values, duplicates
            return [("", b""), ("", None), ("reason", b"forged"), ("source.offset", b"-1"), ("reason", None)]
        if choice == 4:  # huge
            return [("big", rng.randbytes(rng.randrange(1_000, 8_000)))]
        if choice == 5:  # not UTF-8
            return [("bytes", rng.choice(BAD_UTF8)), ("ünïcödé", rng.randbytes(16))]
        return [("content-type", b"application/json")]

    def _message(self, value: bytes | None, intent: Intent, kind: str) -> FuzzMessage:
        return FuzzMessage(value, self.key(), self.headers(), intent, kind)

    # -- the kinds of message -------------------------------------------------------------------------------------
    def good(self) -> FuzzMessage:
        record = self.record()
        if self.rng.random() < 0.2:  # any order of the fields, any spacing: still a record
            items = list(record.items())
            self.rng.shuffle(items)
            value = orjson.dumps(dict(items), option=orjson.OPT_INDENT_2)
        else:
            value = encode(record)
        return self._message(value, "good", "good record")

    def arbitrary_bytes(self) -> FuzzMessage:
        rng = self.rng
        size = rng.choice([0, 1, 2, rng.randrange(3, 64), rng.randrange(64, 2048)])
        value = rng.randbytes(size)
        if rng.random() < 0.3 and size:
            value = b"{" + value  # looks like JSON for a byte
        return self._message(value, "either" if size else "bad", "arbitrary bytes")

    def bad_utf8_everywhere(self) -> Iterator[FuzzMessage]:
        """A bad UTF-8 sequence at every position of every string of a record: its keys and its date and time."""
        base = encode(self.record())
        strings: list[tuple[int, int]] = []  # (start, end) of each string's characters, between its quotes
        position = 0
        while (start := base.find(b'"', position)) >= 0:
            end = base.find(b'"', start + 1)
            strings.append((start + 1, end))
            position = end + 1
        for start, end in strings:
            for at in range(start, end + 1):
                value = base[:at] + self.rng.choice(BAD_UTF8) + base[at:]
                yield self._message(value, "bad", "invalid UTF-8 in a string")

    def mutation(self) -> FuzzMessage:
        rng = self.rng
        record = self.record()
        name = rng.choice(FIELD_NAMES)
        kind = rng.randrange(10)
        if kind == 0:  # a huge field
            size = rng.choice([200, 1_000, 5_000, 20_000])
            if rng.random() < 0.1:
                size = rng.randrange(20_000, self.size_limit - 25_000)
            record[name] = "7" * size if rng.random() < 0.5 else rng.randbytes(size).hex()[:size]
            return self._message(encode(record), "bad", "huge field")
        if kind == 1:  # deep nesting
            depth = rng.choice([2, 64, 512, 1023, 1025, 5000])
            value = encode(record).replace(b"%d" % record["id"], b"[" * depth + b"1" + b"]" * depth, 1)
            if rng.random() < 0.5:
                value = b'{"a":' * depth + b"1" + b"}" * depth
            return self._message(value, "bad", "deep nesting")
        if kind == 2:  # an extreme or special number in any numeric field
            numeric = [f.name for f in FIELDS if f.type != "string"]
            target = rng.choice(numeric)
            text = encode({**record, target: 12345678})
            value = text.replace(b"12345678", rng.choice(EXTREME_NUMBERS), 1)
            return self._message(value, "either", "extreme number")
        if kind == 3:  # a duplicate key, with the same or another value
            text = encode(record)
            twin = orjson.dumps({name: record[name] if rng.random() < 0.5 else rng.choice(WRONG_VALUES)})[1:-1]
            at = rng.choice([1, len(text) - 1])
            value = text[:at] + (twin + b"," if at == 1 else b"," + twin) + text[at:]
            return self._message(value, "bad", "duplicate key")
        if kind == 4:  # an unknown key
            record[rng.choice(["extra", "", "ID", "date ", "\u0000", "heartRate", "x" * 300])] = rng.choice(
                WRONG_VALUES
            )
            return self._message(orjson.dumps(record), "bad", "unknown key")
        if kind == 5:  # a wrong type
            value = rng.choice(WRONG_VALUES)
            record[name] = value
            return self._message(orjson.dumps(record), "either", "wrong type")
        if kind == 6:  # a missing field, or not an object at all
            del record[name]
            value = orjson.dumps(record) if rng.random() < 0.7 else orjson.dumps(list(record.values()))
            return self._message(value, "bad", "missing field")
        if kind == 7:  # a date outside the event-time window, or not a date
            record["date"] = rng.choice(["9999-12-31", "0001-01-01", "2015-12-31", "2100-01-01", "2016-02-30"])
            return self._message(encode(record), "bad", "date outside the window")
        if kind == 8:  # a bad UTF-8 sequence in a random string
            text = encode(record)
            quotes = [n for n, byte in enumerate(text) if byte == ord('"')]
            at = rng.randrange(quotes[0] + 1, quotes[-1])
            while text[at - 1 : at] == b'"' and text[at : at + 1] in (b":", b","):
                at = rng.randrange(quotes[0] + 1, quotes[-1])
            return self._message(text[:at] + rng.choice(BAD_UTF8) + text[at:], "bad", "invalid UTF-8")
        # cut anywhere, or with something after it
        text = encode(record)
        value = text[: rng.randrange(len(text))] if rng.random() < 0.5 else text + rng.choice([b"x", b"{}", b" 1"])
        return self._message(value, "bad", "truncated or trailing")

    def near_the_limit(self) -> FuzzMessage:
        """A value just within the topic's limit (a bad record padded, whose dead letter must be cut), or just
        beyond it (which the broker refuses)."""
        rng = self.rng
        beyond = rng.random() < 0.4
        size = self.size_limit + rng.randrange(100, 5_000) if beyond else self.size_limit - rng.randrange(500, 2_000)
        record = self.record()
        short = orjson.dumps({**record, "pad": ""})
        value = orjson.dumps({**record, "pad": rng.randbytes(size).hex()[: size - len(short)]})
        message = FuzzMessage(value, None, None, "bad", "near the size limit", oversized=beyond)
        if not beyond and rng.random() < 0.5:
            message.key = str(record["id"]).encode()
        return message

    def messages(self, count: int) -> list[FuzzMessage]:
        """`count` messages or a few more: every bad-UTF-8 position of one record, then the rest mixed, shuffled."""
        out = list(self.bad_utf8_everywhere())
        near = [self.near_the_limit() for _ in range(40)]
        out += near
        makers = [self.good] * 10 + [self.mutation] * 7 + [self.arbitrary_bytes] * 3
        while len(out) < count:
            out.append(self.rng.choice(makers)())
        self.rng.shuffle(out)
        return out
