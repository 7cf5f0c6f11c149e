"""Reading a history file in a second process, so that parsing overlaps the database writes.

`read_file` starts `python -m app.importer.reader`, which opens the file, reads and checks its
rows, and writes batches of them to its stdout as pickles; the parent reads them one by one.
The pipe's buffer is small: the child waits while the parent writes, and memory stays bounded
whatever the file's size. Rows cross as plain tuples (several times cheaper to pickle than named
tuples).
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from app.importer.parse import Batch, Row, batches, open_text, read_csv, read_jsonl


def _produce(
    path: str, kind: str, explicit: dict[str, str], size: int, latest: datetime, out: BinaryIO
) -> None:
    try:
        with Path(path).open("rb") as raw:
            text = open_text(raw)
            source = read_jsonl(text, explicit) if kind == "jsonl" else read_csv(text, explicit)
            for b in batches(source, size, raw.tell, latest):
                rows = [tuple(r) for r in b.rows]
                pickle.dump((rows, b.rejected, b.read, b.position), out, pickle.HIGHEST_PROTOCOL)
    except ValueError as exc:  # a header nothing maps
        pickle.dump(("error", str(exc)), out)
    except Exception as exc:  # anything else, named, rather than a silent child
        pickle.dump(("failed", f"{exc!r}"), out)
    pickle.dump(None, out)
    out.flush()


def read_file(
    path: Path,
    kind: str,
    explicit: dict[str, str] | None,
    size: int,
    max_future_skew_seconds: int | None = None,
) -> Iterator[Batch]:
    """Batches of `size` parsed rows of a CSV or JSON-lines file, read by a child process.

    A header no field can be mapped from raises ValueError, as `read_csv` does. Rows later
    than now + `max_future_skew_seconds` (by default the deployment's setting) are rejected,
    as the API rejects such events."""
    if max_future_skew_seconds is None:
        from app.core.settings import get_settings

        max_future_skew_seconds = get_settings().max_future_skew_seconds
    latest = datetime.now(UTC) + timedelta(seconds=max_future_skew_seconds)
    child = subprocess.Popen(
        [
            sys.executable,
            "-P",  # this installation's `app`, never one in the current directory
            "-m",
            "app.importer.reader",
            str(path),
            kind,
            str(size),
            json.dumps(explicit or {}),
            latest.isoformat(),
        ],
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None
    try:
        while True:
            try:
                item = pickle.load(child.stdout)
            except EOFError:
                raise RuntimeError(
                    f"the process reading {path} stopped (exit code {child.wait()})"
                ) from None
            if item is None:
                return
            if item[0] == "error":
                raise ValueError(item[1])
            if item[0] == "failed":
                raise RuntimeError(f"reading {path} failed: {item[1]}")
            rows, rejected, read, position = item
            yield Batch(list(map(Row._make, rows)), rejected, read, position)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stdout.close()


if __name__ == "__main__":
    _produce(
        sys.argv[1],
        sys.argv[2],
        json.loads(sys.argv[4]),
        int(sys.argv[3]),
        datetime.fromisoformat(sys.argv[5]),
        sys.stdout.buffer,
    )
