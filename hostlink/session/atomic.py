"""Session files that are either whole or absent, whatever signal stops the process.

A file is written under a temporary name in its own folder (so the rename stays on one file
system), flushed, fsync'd, renamed over its final name, and the folder is fsync'd so the rename
itself survives a crash. A process killed part-way leaves at most a temporary file, which
``clean_temporaries`` removes on the next run; the final name always holds a complete file.

The transcript is the one file that grows: each record goes out in a single ``write(2)`` on an
``O_APPEND`` descriptor, so a kill leaves whole lines (a signal cannot split a write to a regular
file once the call has started).
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
from pathlib import Path

from ..procs import pid_alive

#: ``.NAME.tmp-PID-N``: hidden, names the writer, never matches a session file's glob.
_TMP = re.compile(r"^\..+\.tmp-(\d+)-\d+$")
_counter = 0


def _tmp_name(path: Path) -> Path:
    global _counter
    _counter += 1
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{_counter}")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs):
    """``with atomic_open(p, "wb") as f: ...``: ``p`` appears complete when the block ends, or
    not at all (an exception, KeyboardInterrupt included, removes the temporary)."""
    path = Path(path)
    tmp = _tmp_name(path)
    try:
        with open(tmp, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def write_text(path: str | Path, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def is_temporary(path: Path) -> bool:
    return bool(_TMP.match(path.name))


def clean_temporaries(folder: str | Path) -> list[Path]:
    """Remove the temporaries that killed writers left in ``folder`` and its board folders; a
    temporary whose writer is still alive is another process's work in progress and stays."""
    removed = []
    folder = Path(folder)
    for d in [folder] + [p for p in folder.iterdir() if p.is_dir()]:
        for p in d.iterdir():
            m = _TMP.match(p.name)
            if m and p.is_file() and not _alive(int(m.group(1))):
                with contextlib.suppress(OSError):
                    p.unlink()
                    removed.append(p)
    return removed


def _alive(pid: int) -> bool:
    # our own temporaries are never left open across calls
    return pid != os.getpid() and pid_alive(pid)


class AppendLineHandler(logging.Handler):
    """A logging handler that appends each record with one ``os.write`` (see the module doc)."""

    def __init__(self, path: str | Path):
        super().__init__()
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = (self.format(record).replace("\n", "\n    ") + "\n").encode("utf-8", "replace")
            while data:
                data = data[os.write(self.fd, data):]
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.fsync(self.fd)
            os.close(self.fd)
            self.fd = -1
        super().close()
