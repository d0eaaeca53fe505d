"""The store behind a running explorer: opened read-only, reopened on demand, watched for writers.

LadybugDB lets a read-only process open a database while another process writes to it, but the
reader sees the graph as it was when it opened. So the explorer tells the user when a writer
holds the lock (by asking the kernel who holds the database file's POSIX lock) and when the
files changed since it opened them (``Store.local_files``; a server has none), and offers to
reopen.
"""

from __future__ import annotations

import fcntl
import os
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..graph import Store, open_store, resolve_uri

# struct flock on Linux: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid
_FLOCK = struct.Struct("hhqqi")
_FLOCK_SIZE = 32  # with the padding the C struct has at its end


class StoreStatus(BaseModel):
    uri: str
    dialect: str
    writer_pid: int | None = None  # another process holding the write lock (embedded store)
    changed: bool = False  # the files changed since this explorer opened them
    message: str | None = None


def writer_pid(database_file: Path) -> int | None:
    """The process holding a write lock on the file, or None; takes no lock itself."""
    try:
        fd = os.open(database_file, os.O_RDONLY)
    except OSError:
        return None
    try:
        probe = _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0).ljust(_FLOCK_SIZE, b"\0")
        lock_type, _, _, _, pid = _FLOCK.unpack(
            fcntl.fcntl(fd, fcntl.F_GETLK, probe)[: _FLOCK.size]
        )
    except OSError:
        return None
    finally:
        os.close(fd)
    return None if lock_type == fcntl.F_UNLCK else pid


def _fingerprint(files: list[Path]) -> tuple[tuple[int, int], ...]:
    out = []
    for path in files:
        try:
            info = path.stat()
            out.append((info.st_mtime_ns, info.st_size))
        except OSError:
            out.append((0, 0))
    return tuple(out)


class StoreSession:
    """One read-only store shared by the explorer's requests, plus values derived from it.

    Requests run one at a time through ``use()``; ``reload()`` closes and reopens the store
    (and forgets derived values) so a writer's changes become visible.
    """

    def __init__(self, uri: str | None):
        self.uri = resolve_uri(uri)
        self._lock = threading.RLock()
        self._store: Store | None = None
        self._derived: dict[str, Any] = {}
        self._opened_fingerprint: tuple | None = None

    def _open(self) -> Store:
        if self._store is None:
            store = open_store(self.uri, read_only=True)
            try:
                store.counts()  # connects now, so a missing store or server shows at once
            except BaseException:
                store.close()
                raise
            self._store = store
            self._opened_fingerprint = _fingerprint(store.local_files())
        return self._store

    @contextmanager
    def use(self) -> Iterator[Store]:
        with self._lock:
            yield self._open()

    def derived(self, name: str, build: Callable[[Store], Any]) -> Any:
        """A value computed once from the open store (a lexicon, facets) until the next reload."""
        with self._lock:
            if name not in self._derived:
                self._derived[name] = build(self._open())
            return self._derived[name]

    def reload(self) -> None:
        with self._lock:
            self.close()
            self._open()

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
            self._store = None
            self._derived.clear()

    def status(self) -> StoreStatus:
        with self._lock:
            store = self._open()
            status = StoreStatus(uri=self.uri, dialect=store.dialect)
            files = store.local_files()
            if files:
                status.writer_pid = writer_pid(files[0])
                status.changed = _fingerprint(files) != self._opened_fingerprint
            status.message = _status_message(status)
            return status


def _status_message(status: StoreStatus) -> str | None:
    if status.writer_pid:
        return (
            f"Another process (PID {status.writer_pid}) holds the write lock on this store: "
            "you see the graph as it was when the explorer opened it. Reload when that "
            "process has finished."
        )
    if status.changed:
        return "The store changed on disk since the explorer opened it: reload to see the changes."
    return None
