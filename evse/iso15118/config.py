"""`[[iso15118]]`: the ISO 15118-20 SECC of one EVSE (one table per EVSE that speaks it).

    [[iso15118]]
    evse = 1                              # the [[evse]] id
    interface = "eth1"                    # the PLC modem's interface (SDP + TCP/TLS);
                                          # "lo": [::1] (simulation, car on this host)
    sdp_port = 15118                      # SDP's UDP port (another one only on "lo";
                                          # 0 on "lo": derived from [slac]'s unix:DIR)
    evseid = "DE*ABC*E1"                  # EVSEID sent to the car
    services = ["DC", "DC_BPT"]           # AC / AC_BPT for an AC EVSE, DC / DC_BPT for DC
    control_modes = ["Scheduled", "Dynamic"]
    tls = "optional"                      # none | optional | required
    cert_chain = "pki/secc_chain.pem"     # needed unless tls = "none"
    private_key = "pki/secc_key.pem"
    oem_roots = "pki/oem_roots.pem"       # optional: the car must present a chain to these
    key_log = ""                          # debugging only: write TLS keys here
    assume_link = true                    # until SLAC exists: the interface counts as linked
    # limits (default: the unit's ratings): max_charge_w, max_discharge_w, max_charge_a,
    # max_discharge_a, min_v, max_v (DC output range); timers: sequence_timeout_s,
    # ongoing_timeout_s; service_renegotiation = true

Every error names the key, as the other sections do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

from evse.iso15118.d20.types import (
    CONTROL_MODE_IDS,
    SERVICE_IDS,
    ControlMode,
    SeccConfig,
    SeccLimits,
    ServiceName,
)
from evse.iso15118.sdp import TlsPolicy
from evse.iso15118.secc import SeccTransportConfig
from hal.config import EvseUnitConfig, resolve_path
from hal.config_reader import ConfigError, Table


@dataclass(frozen=True, slots=True)
class IsoConfig:
    evse_id: int
    secc: SeccConfig
    transport: SeccTransportConfig
    assume_link: bool


def _names(t: Table, key: str, options: tuple[str, ...], default: list[str]) -> list[str]:
    value = t.raw(key, default)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(t.key(key), value, "must be a non-empty array of strings")
    for v in value:
        if v not in options:
            raise ConfigError(t.key(key), v, f"must be one of {', '.join(options)}")
    if len(set(value)) != len(value):
        raise ConfigError(t.key(key), value, "names a value twice")
    return list(value)


def _file(t: Table, key: str, base_dir: Path, required: bool) -> Path | None:
    value = t.opt_str(key)
    if not value:
        if required:
            raise ConfigError(t.key(key), value, 'required when tls is not "none"')
        return None
    path = resolve_path(base_dir, value)
    if not path.is_file():
        raise ConfigError(t.key(key), value, "no such file")
    return path


def parse_one(
    t: Table, base_dir: Path, units: dict[int, EvseUnitConfig], nominal_v: float
) -> IsoConfig:
    evse_id = t.get_int("evse", lo=1, hi=255)
    unit = units.get(evse_id)
    if unit is None:
        raise ConfigError(t.key("evse"), evse_id, "no [[evse]] with this id")
    interface = t.get_str("interface")
    if not 1 <= len(interface) <= 15 or "/" in interface or " " in interface:
        raise ConfigError(t.key("interface"), interface, "not a network interface name")
    default_services = ["AC", "AC_BPT"] if unit.kind == "ac" else ["DC", "DC_BPT"]
    if unit.max_discharge_w <= 0:
        default_services = default_services[:1]
    services = _names(t, "services", tuple(SERVICE_IDS), default_services)
    for s in services:
        if s.startswith("AC") != (unit.kind == "ac"):
            raise ConfigError(t.key("services"), s, f"not a service of a {unit.kind} EVSE")
        if s.endswith("_BPT") and unit.max_discharge_w <= 0:
            raise ConfigError(t.key("services"), s, "the EVSE cannot discharge")
    modes = _names(t, "control_modes", tuple(CONTROL_MODE_IDS), ["Scheduled", "Dynamic"])
    tls = t.choice("tls", ("none", "optional", "required"), "none")
    limits = _limits(t, unit, nominal_v)
    secc = SeccConfig(
        evse_id=evse_id,
        evseid=t.get_str("evseid"),
        services=tuple(cast(ServiceName, s) for s in services),
        control_modes=tuple(cast(ControlMode, m) for m in modes),
        limits=limits,
        sequence_timeout_s=t.get_float("sequence_timeout_s", 60.0, lo=1.0, hi=600.0),
        ongoing_timeout_s=t.get_float("ongoing_timeout_s", 60.0, lo=1.0, hi=600.0),
        service_renegotiation=t.get_bool("service_renegotiation", True),
    )
    if not 1 <= len(secc.evseid) <= 255:
        raise ConfigError(t.key("evseid"), secc.evseid, "must be 1-255 characters")
    needs_cert = tls != "none"
    transport = SeccTransportConfig(
        interface=interface,
        tls=cast(TlsPolicy, tls),
        tcp_port=_port(t, "tcp_port"),
        tls_port=_port(t, "tls_port"),
        cert_file=_file(t, "cert_chain", base_dir, needs_cert),
        key_file=_file(t, "private_key", base_dir, needs_cert),
        oem_roots=_file(t, "oem_roots", base_dir, False),
        key_log=resolve_path(base_dir, k) if (k := t.opt_str("key_log")) else None,
        sdp_port=t.get_int("sdp_port", 15118, lo=0, hi=65535),
    )
    if transport.sdp_port != 15118 and interface != "lo":
        # -2 / -20: cars send SDP to port 15118; another port only reaches our own car
        raise ConfigError(t.key("sdp_port"), transport.sdp_port, 'only with interface = "lo"')
    cfg = IsoConfig(evse_id, secc, transport, t.get_bool("assume_link", True))
    t.reject_unknown()
    return cfg


def _limits(t: Table, unit: EvseUnitConfig, nominal_v: float) -> SeccLimits:
    charge_w = t.get_float("max_charge_w", unit.max_charge_w, lo=0.0, hi=unit.max_charge_w)
    discharge_w = t.get_float(
        "max_discharge_w", unit.max_discharge_w, lo=0.0, hi=unit.max_discharge_w
    )
    dc = unit.kind == "dc"
    min_v = t.get_float("min_v", 150.0 if dc else 0.0, lo=0.0, hi=1500.0)
    max_v = t.get_float("max_v", 500.0 if dc else 0.0, lo=0.0, hi=1500.0)
    if dc and not 0 < min_v < max_v:
        raise ConfigError(t.key("max_v"), max_v, f"must be above min_v ({min_v}) and 0")
    per_amp = max_v if dc else nominal_v * unit.phases  # W per A at full voltage
    charge_a = t.get_float("max_charge_a", charge_w / per_amp, lo=0.0, hi=10_000.0)
    discharge_a = t.get_float("max_discharge_a", discharge_w / per_amp, lo=0.0, hi=10_000.0)
    return SeccLimits(
        max_charge_w=charge_w,
        max_discharge_w=discharge_w,
        max_charge_a=charge_a,
        max_discharge_a=discharge_a,
        min_v=min_v,
        max_v=max_v,
        nominal_v=nominal_v,
        phases=unit.phases,
    )


def parse_iso15118(
    tables: list[Table], base_dir: Path, units: tuple[EvseUnitConfig, ...], nominal_v: float
) -> tuple[IsoConfig, ...]:
    by_id = {u.id: u for u in units}
    out = tuple(parse_one(t, base_dir, by_id, nominal_v) for t in tables)
    ids = [c.evse_id for c in out]
    if len(set(ids)) != len(ids):
        raise ConfigError("iso15118", ids, "one [[iso15118]] per EVSE")
    ifaces = [(c.transport.interface, c.transport.sdp_port) for c in out]
    if len(set(ifaces)) != len(ifaces):
        raise ConfigError("iso15118", [i for i, _ in ifaces],
                          'each EVSE needs its own interface (on "lo": its own sdp_port)')
    return out


def _port(t: Table, key: str) -> int:
    """0 (any free port in the dynamic range) or a port in 49152-65535 ([V2G2-064])."""
    port = t.get_int(key, 0, lo=0, hi=65535)
    if port and port < 49152:
        raise ConfigError(t.key(key), port, "ISO 15118 servers use 49152-65535 (or 0: any)")
    return port
