"""Request name -> handler: the common handlers here plus the energy handlers of
`power_registry.POWER_HANDLERS`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType, ModuleType
from typing import Any

from evse.iso15118.d20 import (
    authorization,
    authorization_setup,
    service_detail,
    service_discovery,
    service_selection,
    session_setup,
    session_stop,
    supported_app_protocol,
)
from evse.iso15118.d20.power_registry import POWER_HANDLERS
from evse.iso15118.d20.types import Outcome, SessionContext, StationView

Handler = Callable[[Any, SessionContext, StationView, float], Outcome]

COMMON_HANDLERS: tuple[ModuleType, ...] = (
    supported_app_protocol,
    session_setup,
    authorization_setup,
    authorization,
    service_discovery,
    service_detail,
    service_selection,
    session_stop,
)


def build(modules: Iterable[ModuleType]) -> Mapping[str, Handler]:
    """Each module's REQUEST -> its `handle`; a request claimed twice is a wiring error."""
    table: dict[str, Handler] = {}
    for module in modules:
        name: str = module.REQUEST
        if name in table:
            raise ValueError(f"{name} has two handlers ({module.__name__})")
        table[name] = module.handle
    return MappingProxyType(table)


def default_handlers() -> Mapping[str, Handler]:
    return build(COMMON_HANDLERS + POWER_HANDLERS)
