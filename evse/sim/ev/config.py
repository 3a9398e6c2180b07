"""What our simulated EV wants: service, control mode, battery, limits and a script.

Loaded from a JSON object (the test harness and `python -m evse.sim.ev` write one); every
error names the key. Times in the script are seconds since the EV started (its first
SDP request), so a pause and resume keep one time line.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal, get_args

ServiceName = Literal["AC", "DC", "AC_BPT", "DC_BPT"]
ControlMode = Literal["Scheduled", "Dynamic"]
SERVICE_IDS: dict[str, int] = {"AC": 1, "DC": 2, "AC_BPT": 5, "DC_BPT": 6}
CONTROL_MODE_IDS: dict[str, int] = {"Scheduled": 1, "Dynamic": 2}


class EvConfigError(ValueError):
    """A bad EV configuration: the message names the key."""


@dataclass(frozen=True, slots=True)
class PowerStep:
    at_s: float
    power_w: float  # what the EV wants from `at_s` on: + charge, - discharge (BPT only)


@dataclass(frozen=True, slots=True)
class EvConfig:
    service: ServiceName = "AC"
    control_mode: ControlMode = "Dynamic"
    tls: bool = False
    evccid: str = "WMIV1234567890ABCDEX"
    capacity_wh: float = 60000.0
    soc_start: float = 30.0  # %
    target_soc: int = 80
    min_soc: int = 20
    departure_s: int = 7200  # from the start; the session ends when it is reached
    max_charge_w: float = 11000.0
    max_discharge_w: float = 11000.0
    max_charge_a: float = 32.0  # AC per phase / DC
    max_discharge_a: float = 32.0
    phases: int = 3
    dc_min_v: float = 200.0
    dc_max_v: float = 500.0
    script: tuple[PowerStep, ...] = (PowerStep(0.0, 11000.0),)
    pause_at_s: float | None = None  # the EV pauses (SessionStop Pause) at this time ...
    resume_after_s: float = 2.0  # ... and reconnects this long after
    stop_at_s: float | None = None  # the EV ends charging at this time
    precharge_tolerance_v: float = 20.0  # PreCharge done when the SECC is this close
    loop_interval_s: float = 0.25  # pause between ChargeLoop requests
    timeout_scale: float = 1.0  # x the -20 EV message timeouts (a slow peer in tests)
    sdp_tries: int = 50  # SDP: 0.25 s per try ([V2G20-...] as in open implementations)
    tls_ca_file: str | None = None  # roots to check the SECC's chain (None: not checked)
    tls_cert_file: str | None = None  # the EV's OEM chain for mutual authentication
    tls_key_file: str | None = None
    tls_key_password_file: str | None = None  # a file holding the key's password

    @property
    def bpt(self) -> bool:
        return self.service.endswith("_BPT")

    @property
    def dc(self) -> bool:
        return self.service.startswith("DC")

    def wanted_w(self, t_s: float) -> float:
        """The power the script asks for at `t_s` (discharge only with a BPT service)."""
        power = 0.0
        for step in self.script:
            if step.at_s <= t_s:
                power = step.power_w
        if power < 0 and not self.bpt:
            return 0.0
        return max(-self.max_discharge_w, min(self.max_charge_w, power))


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EvConfigError(f"{key}: expected a number, got {value!r}")
    return float(value)


def load(doc: dict[str, Any]) -> EvConfig:
    """An `EvConfig` from a JSON object; unknown keys and bad values are errors."""
    known = {f.name: f for f in fields(EvConfig)}
    kwargs: dict[str, Any] = {}
    for key, value in doc.items():
        if key not in known:
            raise EvConfigError(f"{key}: unknown key (known: {', '.join(sorted(known))})")
        if key == "service":
            if value not in get_args(ServiceName):
                raise EvConfigError(f"service: {value!r} is not one of AC, DC, AC_BPT, DC_BPT")
            kwargs[key] = value
        elif key == "control_mode":
            if value not in get_args(ControlMode):
                raise EvConfigError(f"control_mode: {value!r} is not Scheduled or Dynamic")
            kwargs[key] = value
        elif key == "evccid":
            if not isinstance(value, str) or not value:
                raise EvConfigError("evccid: expected a non-empty string")
            kwargs[key] = value
        elif key in ("tls_ca_file", "tls_cert_file", "tls_key_file", "tls_key_password_file"):
            if value is not None and not isinstance(value, str):
                raise EvConfigError(f"{key}: expected a path or null")
            kwargs[key] = value
        elif key == "tls":
            if not isinstance(value, bool):
                raise EvConfigError("tls: expected true or false")
            kwargs[key] = value
        elif key == "script":
            if not isinstance(value, list):
                raise EvConfigError("script: expected a list of {at_s, power_w}")
            steps = []
            for i, step in enumerate(value):
                if not isinstance(step, dict) or set(step) != {"at_s", "power_w"}:
                    raise EvConfigError(f"script[{i}]: expected {{at_s, power_w}}, got {step!r}")
                steps.append(PowerStep(_number(f"script[{i}].at_s", step["at_s"]),
                                       _number(f"script[{i}].power_w", step["power_w"])))
            kwargs[key] = tuple(steps)
        elif key in ("pause_at_s", "stop_at_s") and value is None:
            kwargs[key] = None
        elif key in ("target_soc", "min_soc", "departure_s", "phases", "sdp_tries"):
            kwargs[key] = int(_number(key, value))
        else:
            kwargs[key] = _number(key, value)
    config = EvConfig(**kwargs)
    if not 0 <= config.soc_start <= 100 or not 0 <= config.target_soc <= 100:
        raise EvConfigError("soc_start / target_soc: a percentage 0..100")
    if config.capacity_wh <= 0:
        raise EvConfigError("capacity_wh: must be above 0")
    return config
