"""`python -m services.producer.day_stream USERS START DAYS SEED`: the simulated backfill's days, encoded, as frames
on stdout, for a producer that hands the day before to Kafka meanwhile (`run.BackfillDays`).

USERS is a count, or `ids:` and comma-separated ids. Each frame is a tag byte, the body's length (8 bytes,
little-endian), the body: `K` the user ids (comma-separated, once, first), `D` a day's values
(`encoding.encode_day_text`), `.` the end, `E` an error (`Kind:message`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import struct
import sys
from collections.abc import Iterator
from typing import BinaryIO, Final

HEADER: Final = struct.Struct("<cQ")


def write_frame(out: BinaryIO, tag: bytes, body: bytes = b"") -> None:
    out.write(HEADER.pack(tag, len(body)))
    out.write(body)


def read_frames(stream: BinaryIO) -> Iterator[tuple[bytes, bytes]]:
    """(tag, body) of each frame until the stream ends."""
    while header := stream.read(HEADER.size):
        if len(header) < HEADER.size:
            raise EOFError("a frame's header was cut short")
        tag, size = HEADER.unpack(header)
        body = stream.read(size)
        if len(body) < size:
            raise EOFError("a frame was cut short")
        yield tag, body


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the producer decides
    from services.producer.encoding import encode_day_text
    from services.producer.simulator import simulate_days

    users_text, start, days, seed = argv
    ids = users_text.removeprefix("ids:")
    users: int | list[int] = int(users_text) if ids == users_text else [int(u) for u in ids.split(",")]
    out = sys.stdout.buffer
    try:
        for index, day in enumerate(simulate_days(users, dt.date.fromisoformat(start), int(days), int(seed))):
            if index == 0:
                write_frame(out, b"K", ",".join(map(str, day.ids.tolist())).encode())
            write_frame(out, b"D", encode_day_text(day))
        write_frame(out, b".")
        out.flush()
    except (BrokenPipeError, ValueError) as exc:
        if isinstance(exc, BrokenPipeError):  # the producer stopped taking days
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())  # so that the exit's flush finds no pipe
            return 0
        with contextlib.suppress(OSError):
            write_frame(out, b"E", f"{type(exc).__name__}:{exc}".encode())
            out.flush()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
