"""`[slac]`: SLAC (ISO 15118-3) and the pilot coordinator of one EVSE.

    [slac]
    evse = 1                  # the [[evse]] id
    enable = true             # false: no PLC modem, basic charging only (IEC 61851-1)
    interface = "eth1"        # the PLC modem's interface; "sim": an in-memory powerline;
                              # "unix:DIR": a simulated powerline across processes, a
                              # directory of Unix datagram sockets (evse/slac/link_unix.py)
    sim_ev = false            # with interface = "sim": our EV's SLAC side answers
    attenuation_db = 20       # unix: what our simulated modem reports per sound
    init_timeout_s = 40.0     # TT_EVSE_SLAC_init (ISO 15118-3: 20-50 s)
    match_timeout_s = 50.0    # pilot B with 5 % -> data link up, per attempt
    retries = 1               # further attempts, each after a state F step
    ef_step_s = 4.0           # T_step_EF: the pilot in F before a retry (>= 4 s)
    basic_fallback = true     # no match: IEC 61851-1 basic charging (AC only; default)

Every error names the key, as the other sections do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evse.slac.link_unix import parse_interface
from evse.station.coordinator import CoordinatorConfig
from hal.config import EvseUnitConfig, resolve_path
from hal.config_reader import ConfigError, Table


@dataclass(frozen=True, slots=True)
class SlacConfig:
    evse_id: int
    interface: str
    sim_ev: bool
    init_timeout_s: float
    coordinator: CoordinatorConfig
    powerline: Path | None = None  # interface = "unix:DIR": the segment's directory
    attenuation_db: int = 20


def parse_slac(t: Table, units: tuple[EvseUnitConfig, ...],
               base_dir: Path | None = None) -> SlacConfig:
    evse_id = t.get_int("evse", 1, lo=1, hi=255)
    unit = next((u for u in units if u.id == evse_id), None)
    if unit is None:
        raise ConfigError(t.key("evse"), evse_id, "no [[evse]] with this id")
    enable = t.get_bool("enable", True)
    interface = t.get_str("interface", "")
    unix = parse_interface(interface)
    powerline: Path | None = None
    if unix is not None:
        if not unix or len(unix) > 80:  # + "/<modem mac>.plc" within AF_UNIX's 108 bytes
            raise ConfigError(t.key("interface"), interface, "unix:DIR needs a path of 1-80 bytes")
        powerline = resolve_path(base_dir, unix) if base_dir is not None else Path(unix)
    elif enable and (not 1 <= len(interface) <= 15 or "/" in interface or " " in interface):
        raise ConfigError(t.key("interface"), interface,
                          'not a network interface name (or "sim", "unix:DIR")')
    sim_ev = t.get_bool("sim_ev", False)
    if sim_ev and interface != "sim":
        raise ConfigError(t.key("sim_ev"), sim_ev, 'needs interface = "sim"')
    init_timeout = t.get_float("init_timeout_s", 40.0, lo=20.0, hi=50.0)
    match_timeout = t.get_float("match_timeout_s", 50.0, lo=1.0, hi=600.0)
    if match_timeout < init_timeout:
        raise ConfigError(t.key("match_timeout_s"), match_timeout,
                          f"must not be shorter than init_timeout_s ({init_timeout})")
    fallback = t.get_bool("basic_fallback", unit.kind == "ac")
    if fallback and unit.kind != "ac":
        # IEC 61851-23: DC charging needs digital communication; PWM offers AC current.
        raise ConfigError(t.key("basic_fallback"), True, "basic charging is AC only")
    if not enable and not fallback:
        raise ConfigError(t.key("enable"), False, "with basic_fallback = false nothing charges")
    coordinator = CoordinatorConfig(
        slac=enable,
        basic_fallback=fallback,
        match_timeout_s=match_timeout,
        retries=t.get_int("retries", 1, lo=0, hi=10),
        ef_step_s=t.get_float("ef_step_s", 4.0, lo=4.0, hi=60.0),  # T_step_EF >= 4 s
    )
    attenuation = t.get_int("attenuation_db", 20, lo=0, hi=90)
    t.reject_unknown()
    return SlacConfig(evse_id, interface, sim_ev, init_timeout, coordinator, powerline,
                      attenuation)
