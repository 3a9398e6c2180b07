"""Log lines of N stations in one process say which station wrote them.

Each station's tasks are started with `station_context(id)`: asyncio copies the context
into every task, and the tasks those tasks start, so a line logged anywhere in that
station's hal, controller or OCPP client is prefixed with `[<id>] `.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator

# A key, not state: the value lives in each task's context.
_STATION: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "evse_sim_station", default=None
)


class StationPrefix(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        sid = _STATION.get()
        if sid is not None and not hasattr(record, "sim_station"):
            record.sim_station = sid
            record.msg = f"[{sid}] {record.msg}"
        return True


def station_context(station_id: str) -> contextvars.Context:
    """A context to start a station's task in (`create_task(..., context=...)`)."""
    ctx = contextvars.copy_context()
    ctx.run(_STATION.set, station_id)
    return ctx


@contextlib.contextmanager
def prefixed_logging() -> Iterator[None]:
    """While the fleet runs, every handler of the root logger prefixes station lines."""
    f = StationPrefix()
    handlers = list(logging.getLogger().handlers)
    for h in handlers:
        h.addFilter(f)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(f)
