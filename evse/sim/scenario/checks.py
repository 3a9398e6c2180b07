"""A scenario's `[[expect]]` checks, judged on the run's trace after it ends: a scenario
is also a test. Each verdict says what was expected and what was seen."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evse.sim.scenario.model import Check


@dataclass(frozen=True, slots=True)
class Verdict:
    check: Check
    ok: bool
    detail: str
    judged: bool = True  # False: nothing to judge it on in this run (ok stays True)

    def line(self) -> str:
        c = self.check
        when = f"at {c.from_s:g} s" if c.from_s == c.to_s else f"{c.from_s:g}-{c.to_s:g} s"
        what = c.say or f"{c.kind} {_params(c.params)}"
        mark = "skip" if not self.judged else "ok  " if self.ok else "FAIL"
        return f"{mark} {when:>12}  {what}: {self.detail}"


def not_judged(check: Check, why: str) -> Verdict:
    return Verdict(check, True, f"not judged: {why}", judged=False)


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def matches(value: Any, pattern: Any) -> bool:
    """`pattern` is a subset of `value` (tables key by key, everything else equal)."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            k in value and matches(value[k], v) for k, v in pattern.items()
        )
    if isinstance(pattern, float | int) and isinstance(value, float | int):
        return abs(float(value) - float(pattern)) < 1e-6
    return bool(value == pattern)


def _window(records: list[dict[str, Any]], c: Check) -> list[dict[str, Any]]:
    return [r for r in records if c.from_s <= r["t"] <= c.to_s]


def _in_force(records: list[dict[str, Any]], c: Check) -> list[dict[str, Any]]:
    """State records that held during the window: the last one before it, and those in it."""
    before = [r for r in records if r["t"] < c.from_s]
    return before[-1:] + _window(records, c)


def _measured(trace: list[dict[str, Any]], c: Check, field: str) -> Verdict:
    ms = [r for r in trace if r["src"] == "hal" and r.get("type") == "measurement"]
    if c.from_s == c.to_s:  # an instant: the nearest sample within a second
        near = sorted((r for r in ms if abs(r["t"] - c.from_s) <= 1.0),
                      key=lambda r: abs(r["t"] - c.from_s))
        ms = near[:1]
    else:
        ms = _window(ms, c)
    if not ms:
        return Verdict(c, False, "no measurement from hal in that time")
    lo = float(c.params.get("min_w", float("-inf")))
    hi = float(c.params.get("max_w", float("inf")))
    good = [lo <= float(r[field]) <= hi for r in ms]
    values = [float(r[field]) for r in ms]
    seen = f"{field} {min(values):.0f}..{max(values):.0f} W over {len(ms)} samples"
    ok = any(good) if c.params.get("any", False) else all(good)
    if not ok and not c.params.get("any", False):
        bad = next(r for r, g in zip(ms, good, strict=True) if not g)
        seen += f" (first outside at {bad['t']:.1f} s: {float(bad[field]):.0f} W)"
    return Verdict(c, ok, seen)


def _state(
    trace: list[dict[str, Any]], c: Check, select: Callable[[dict[str, Any]], bool],
    value: Callable[[dict[str, Any]], Any], want: Any, on_change: bool = True,
) -> Verdict:
    """`on_change`: the records report changes only, so the one before the window holds
    in it too; otherwise (measurements, sampled) only those in the window count."""
    chosen = [r for r in trace if select(r)]
    states = _in_force(chosen, c) if on_change else _window(chosen, c)
    if not states:
        return Verdict(c, False, "nothing reported")
    seen = [value(r) for r in states]
    ok = want in seen if c.params.get("any", False) else all(v == want for v in seen)
    return Verdict(c, ok, f"seen {sorted(set(map(str, seen)))}")


def _ocpp(trace: list[dict[str, Any]], c: Check) -> Verdict:
    direction = c.params.get("direction", "station->csms")
    pattern = c.params.get("match", {})
    frames = [
        r for r in _window(trace, c)
        if r["src"] == "ocpp" and r.get("action") == c.params["action"]
        and r.get("direction") == direction and matches(r["frame"][3], pattern)
    ]
    lo = int(c.params.get("count_min", 1))
    hi = int(c.params.get("count_max", 10**9))
    return Verdict(c, lo <= len(frames) <= hi, f"{len(frames)} seen")


def _hal_event(trace: list[dict[str, Any]], c: Check) -> Verdict:
    events = [
        r for r in _window(trace, c)
        if r["src"] == "hal" and r.get("type") == "event" and r.get("kind") == c.params.get(
            "event") and matches(r.get("data", {}), c.params.get("match", {}))
    ]
    return Verdict(c, bool(events), f"{len(events)} seen")


def _mqtt(trace: list[dict[str, Any]], c: Check) -> Verdict:
    topic = str(c.params.get("topic", ""))
    msgs = [
        r for r in _window(trace, c)
        if r["src"] == "mqtt" and str(r.get("topic", "")).endswith(topic)
        and matches(r.get("payload"), c.params.get("match", {}))
    ]
    return Verdict(c, bool(msgs), f"{len(msgs)} seen")


def _iso15118(trace: list[dict[str, Any]], c: Check) -> Verdict:
    """-20 messages as the car saw them (`direction` tx: the car sent it, rx: received)."""
    msgs = [
        r for r in _window(trace, c)
        if r["src"] == "iso15118" and r.get("msg") == c.params.get("msg")
        and r.get("dir", "") == c.params.get("direction", r.get("dir", ""))
        and matches(r.get("fields", {}), c.params.get("match", {}))
    ]
    lo = int(c.params.get("count_min", 1))
    if "target_min_w" not in c.params and "target_max_w" not in c.params:
        return Verdict(c, len(msgs) >= lo, f"{len(msgs)} seen")
    # the power the SECC offered the car, in each of these messages (all phases)
    targets = [w for w in (charge_loop_target_w(r.get("fields", {})) for r in msgs)
               if w is not None]
    t_lo = float(c.params.get("target_min_w", float("-inf")))
    t_hi = float(c.params.get("target_max_w", float("inf")))
    ok = len(targets) >= lo and all(t_lo <= w <= t_hi for w in targets)
    seen = f"target {min(targets):.0f}..{max(targets):.0f} W in " if targets else ""
    return Verdict(c, ok, f"{seen}{len(targets)} seen")


def charge_loop_target_w(fields: dict[str, Any]) -> float | None:
    """EVSETargetActivePower (+ _L2, _L3) of a decoded ChargeLoopRes, in W (None: none)."""
    for name, mode in fields.items():
        if not name.endswith("CLResControlMode") or not isinstance(mode, dict):
            continue
        parts = [mode.get(f"EVSETargetActivePower{p}") for p in ("", "_L2", "_L3")]
        values = [float(r["Value"]) * 10.0 ** int(r["Exponent"])
                  for r in parts if isinstance(r, dict)]
        if values:
            return sum(values)
    return None


def judge(check: Check, trace: list[dict[str, Any]]) -> Verdict:
    kind = check.kind
    if kind == "power":
        return _measured(trace, check, "active_w")
    if kind == "setpoint":
        return _measured(trace, check, "setpoint_w")
    if kind == "contactor":
        return _state(trace, check, lambda r: r["src"] == "hal" and r.get("type") ==
                      "measurement", lambda r: r["contactor_closed"],
                      bool(check.params.get("closed", True)), on_change=False)
    if kind == "grid_state":
        return _state(trace, check, lambda r: r["src"] == "hal" and r.get("type") ==
                      "constraint", lambda r: r["state"], check.params.get("state", "normal"))
    if kind == "ocpp":
        return _ocpp(trace, check)
    if kind == "hal_event":
        return _hal_event(trace, check)
    if kind == "mqtt":
        return _mqtt(trace, check)
    if kind == "iso15118":
        return _iso15118(trace, check)
    if kind == "car_stage":
        return _state(trace, check, lambda r: r["src"] == "car" and "stage" in r,
                      lambda r: r["stage"], check.params.get("stage"), on_change=False)
    return Verdict(check, False, f"unknown check kind {kind!r}")
