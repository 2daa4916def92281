"""Pausing the cyclic garbage collector while a sync or an export builds its objects."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def bulk_allocation() -> Iterator[None]:
    """Optimization: a sync or an export allocates hundreds of thousands of small objects that
    all live until it ends; the cyclic collector would rescan them again and again (a third of
    a sync's time, a sixth of a no-op export's, at 100,000 records). Nothing here makes cycles
    that need collecting early."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
