"""The embedded broker for `evse sim` (amqtt, in process): so that a person can watch
the simulated station with `mosquitto_sub` or any MQTT client without installing a
broker. A board uses Debian's mosquitto (docs/mqtt-api.md); this one has no TLS and
lets anyone in, so it listens on the configured (by default loopback) address only."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

log = logging.getLogger(__name__)


def broker_config(host: str, port: int) -> dict[str, Any]:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


@contextlib.asynccontextmanager
async def embedded_broker(host: str, port: int) -> AsyncIterator[None]:
    from amqtt.broker import Broker  # type: ignore[import-untyped]  # only `evse sim` uses it
    from amqtt.errors import BrokerError  # type: ignore[import-untyped]

    broker = Broker(broker_config(host, port))
    try:
        await broker.start()
    except (OSError, BrokerError) as exc:
        # The port is taken (a broker already runs there, say mosquitto): the API
        # connects to that one; the station runs either way.
        log.warning("embedded MQTT broker not started on %s:%d: %s", host, port, exc)
        yield
        return
    log.info("embedded MQTT broker on %s:%d", host, port)
    try:
        yield
    finally:
        await broker.shutdown()
