"""The config of each of N simulated stations, derived from one base station config.

Each station gets its own id (`<prefix>-001` ...), its own folder under the run
directory (hal's socket and state, evse's SQLite), hal on in-process simulated devices
(`devices.mode = "sim"`: N stations cannot share one set of ptys and TCP ports), and an
`[ocpp]` section pointing at the CSMS. What one process cannot hold N times is left out:
the local MQTT API (one broker client id per station would be needed), SLAC and the
ISO 15118 SECC (they need a veth pair per EVSE).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from evse.config import StationConfig
from evse.ocpp.config import OcppConfig
from evse.ocpp.connection import url_problem
from evse.ocpp.der_device_model import UnitRating

# OCPP-J 3.1.1: the station id is the basic-auth user name; the password is 16-40
# characters. Used when the base config names none (the embedded CSMS accepts any).
DEFAULT_PASSWORD = "evse-sim-stations-0001"
_MAX_UNIX_PATH = 100  # AF_UNIX: sun_path is 108 bytes on Linux


@dataclass(frozen=True, slots=True)
class FleetSettings:
    """What every simulated station of a run shares."""

    csms_url: str  # the OCPP-J endpoint; each station appends its id
    run_dir: Path  # one folder per station below it
    id_prefix: str = "SIM"
    heartbeat_s: int = 10  # asked of the embedded CSMS's BootNotificationResponse
    meter_interval_s: int = 5  # SampledDataCtrlr.TxUpdatedInterval (E02 / J02)
    password: str | None = None  # basic auth; None: the base's, else DEFAULT_PASSWORD
    id_token: str = "SIMCARD"  # presented at plug-in so a transaction starts


def station_ids(prefix: str, n: int) -> list[str]:
    width = max(3, len(str(n)))
    return [f"{prefix}-{i:0{width}d}" for i in range(1, n + 1)]


def check_fleet(n: int, fleet: FleetSettings) -> None:
    """Bad input gets a clear error (ValueError) before any station starts."""
    if n < 1:
        raise ValueError(f"n: need at least one station, got {n}")
    problem = url_problem(fleet.csms_url)
    if problem is not None:
        raise ValueError(f"csms url {fleet.csms_url!r}: {problem}")
    if fleet.heartbeat_s < 1 or fleet.meter_interval_s < 1:
        raise ValueError("heartbeat and meter value intervals must be at least 1 s")
    last = station_ids(fleet.id_prefix, n)[-1]
    if len(last) > 48 or not all(c.isalnum() or c in "*-_=+|@." for c in last):
        raise ValueError(f"station id {last!r}: must be 1-48 identifierString characters")
    sock = station_dir(fleet, last) / "hal.sock"
    if len(str(sock)) > _MAX_UNIX_PATH:
        raise ValueError(f"run dir {fleet.run_dir}: too long for hal's Unix socket ({sock})")
    pw = fleet.password
    if pw is not None and not 16 <= len(pw) <= 40:
        raise ValueError("password: must be 16-40 characters (OCPP passwordString)")


def station_dir(fleet: FleetSettings, station_id: str) -> Path:
    return fleet.run_dir / station_id


def station_config(base: StationConfig, fleet: FleetSettings, station_id: str) -> StationConfig:
    d = station_dir(fleet, station_id)
    sim = base.hal.sim
    if sim is not None:
        # config/sim.toml's car plugs itself in through one control socket and needs an
        # ISO 15118 session for its DC output: the fleet's EV is hal's own, from 1 s on.
        plug = sim.plug_in_at_s if sim.plug_in_at_s is not None else 1.0
        sim = replace(sim, plug_in_at_s=plug, dc=None, control_socket=None)
    hal = replace(
        base.hal,
        socket_path=d / "hal.sock",
        state_dir=d / "hal",
        devices=replace(base.hal.devices, mode="sim"),
        sim=sim,
    )
    controller = replace(
        base.controller,
        state_dir=d / "evse",
        id_token=base.controller.id_token or fleet.id_token,
    )
    return replace(
        base,
        hal=hal,
        controller=controller,
        ocpp=_ocpp(base, fleet, station_id),
        iso15118=(),
        mqtt=None,
        slac=None,
    )


def _ocpp(base: StationConfig, fleet: FleetSettings, station_id: str) -> OcppConfig:
    variables: dict[str, str | int | float | bool] = {
        # Reconnects spread over a few seconds: N stations that lose the CSMS at once
        # must not all knock again in the same instant (OCPP-J 5.4 back-off).
        "OCPPCommCtrlr.RetryBackOffWaitMinimum": 1,
        "OCPPCommCtrlr.RetryBackOffRandomRange": 3,
    }
    variables.update(base.ocpp.variables if base.ocpp is not None else {})
    # The fleet's intervals are what the caller asked for (the CSMS's BootNotification
    # answer may still set another heartbeat interval, B01).
    variables["OCPPCommCtrlr.HeartbeatInterval"] = fleet.heartbeat_s
    variables["SampledDataCtrlr.TxUpdatedInterval"] = fleet.meter_interval_s
    if base.ocpp is None:
        units = tuple(
            UnitRating(
                u.id, u.kind, u.max_charge_w, u.max_discharge_w, u.max_var,
                base.hal.grid.nominal_voltage_v, base.hal.grid.nominal_frequency_hz,
            )
            for u in base.hal.evses
        )
        return OcppConfig(
            csms_url=fleet.csms_url,
            station_id=station_id,
            security_profile=2 if fleet.csms_url.startswith("wss:") else 1,
            basic_auth_password=fleet.password or DEFAULT_PASSWORD,
            evses=len(base.hal.evses),
            variables=variables,
            units=units,
        )
    profile = base.ocpp.security_profile
    if (profile == 1) != fleet.csms_url.startswith("ws:"):
        profile = 1 if fleet.csms_url.startswith("ws:") else 2  # the URL given decides
    return replace(
        base.ocpp,
        csms_url=fleet.csms_url,
        security_profile=profile,
        station_id=station_id,
        basic_auth_password=fleet.password or base.ocpp.basic_auth_password or DEFAULT_PASSWORD,
        variables=variables,
    )
