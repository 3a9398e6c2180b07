"""The energy handlers (secc-power's part). A stub until that branch is merged."""

from __future__ import annotations

from types import ModuleType

POWER_HANDLERS: tuple[ModuleType, ...] = ()
