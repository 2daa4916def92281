"""Work done on a thread of its own while this process waits on the database (without the
GIL) copying a write's ledger entries: the store's next bytes, the sources' bases and the
recent changes."""

from __future__ import annotations

import threading
from typing import Any


class Background:
    """`_work(*args)` run on a daemon thread from construction; `wait` joins it and raises,
    in the caller's thread, what it raised (the caller's transaction decides what that means)."""

    error: BaseException | None = None

    def __init__(self, *args: Any) -> None:
        self.thread = threading.Thread(target=self._guarded, args=args, daemon=True)
        self.thread.start()

    def _guarded(self, *args: Any) -> None:
        try:
            self._work(*args)
        except BaseException as exc:  # raised by `wait`, in the caller's thread
            self.error = exc

    def _work(self, *args: Any) -> None:
        raise NotImplementedError

    def wait(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise self.error
