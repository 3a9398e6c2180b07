"""Whether the station may follow a parsed command, pure: the EVSE must exist, an
external setpoint needs ExternalSetpoint in force (OCPP 2.1 Q05), external limits need
ExternalLimits (Q06), start/stop is for free vend only (with a CSMS, authorization is
its business). A refusal is a `CommandError` (NOT_ALLOWED / UNKNOWN_EVSE) for the reply."""

from __future__ import annotations

from dataclasses import dataclass

from evse.api.commands import (
    NOT_ALLOWED,
    UNKNOWN_EVSE,
    Charge,
    Command,
    CommandError,
    Limits,
    Setpoint,
)
from evse.energy.operation_modes import EXTERNAL_LIMITS, EXTERNAL_SETPOINT


@dataclass(frozen=True, slots=True)
class EvseFacts:
    """What acceptance needs of one EVSE (from the latest snapshot)."""

    operation_mode: str | None  # the mode in force; None: no period (the config's request)
    free_vend: bool


_NEEDS = {Setpoint: EXTERNAL_SETPOINT, Limits: EXTERNAL_LIMITS}


def check(evse_id: int | None, facts: EvseFacts | None, cmd: Command,
          corr_id: str | None) -> None:
    if evse_id is None or facts is None:
        raise CommandError(UNKNOWN_EVSE, f"no EVSE {evse_id}", corr_id)
    need = _NEEDS.get(type(cmd))
    if need is not None and facts.operation_mode != need:
        # Q05.FR / Q06.FR: the EMS steers only where the CSMS's operation mode says so.
        mode = facts.operation_mode or "none (no charging profile in force)"
        raise CommandError(
            NOT_ALLOWED, f"operation mode in force is {mode}; this command needs {need}",
            corr_id,
        )
    if isinstance(cmd, Charge) and not facts.free_vend:
        raise CommandError(
            NOT_ALLOWED, "start/stop is for free vend only: the CSMS authorizes here", corr_id
        )
