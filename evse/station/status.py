"""The one-line station status `evse run` / `make sim` print every status period."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from hal.protocol import GridConstraintReport, Measurement


class EvseStatusView(Protocol):
    evse_id: int
    measurement: Measurement | None
    constraint: GridConstraintReport | None


def status_line(evses: Iterable[EvseStatusView], request_w: float, t: float) -> str:
    parts = [f"t={t:6.1f}s"]
    for view in evses:
        m, c = view.measurement, view.constraint
        if m is None:
            parts.append(f"EVSE{view.evse_id} waiting for hal")
            continue
        volts = "/".join(f"{v:.1f}" for v in m.voltage_v)
        parts.append(f"grid {volts} V {m.frequency_hz:.3f} Hz")
        parts.append(
            f"EVSE{view.evse_id} CP {m.cp_state} {'closed' if m.contactor_closed else 'open'}"
        )
        parts.append(f"req {request_w:.0f} W set {m.setpoint_w:.0f} W act {m.active_w:.0f} W")
        parts.append(f"imp {m.import_wh / 1000:.3f} kWh exp {m.export_wh / 1000:.3f} kWh")
        parts.append(f"grid-state {c.state if c else '?'}")
        ev = getattr(view, "ev", None)  # the car's session (evse/station/ev_view.py)
        if ev is not None:
            parts.append(ev.summary())
    return " | ".join(parts)
