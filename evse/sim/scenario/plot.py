"""One PNG per run (matplotlib, Agg: no display needed): grid frequency and voltage;
requested / allowed / actual power; the car's SOC; the scenario's steps and the
station's notable messages marked as vertical lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: files only, never a window

import matplotlib.pyplot as plt

from evse.sim.scenario.model import Scenario

MARKED_OCPP = ("NotifyDERAlarm", "TransactionEvent", "NotifyDERStartStop")


def _series(records: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    ms = [r for r in records if r["src"] == "hal" and r.get("type") == "measurement"]
    return [r["t"] for r in ms], [float(r[key]) for r in ms]


def _allowed(records: list[dict[str, Any]], end: float) -> tuple[list[float], list[float],
                                                                  list[float]]:
    """hal's allowed range as steps (a constraint holds until the next one)."""
    cs = [r for r in records if r["src"] == "hal" and r.get("type") == "constraint"]
    t: list[float] = []
    lo: list[float] = []
    hi: list[float] = []
    for i, r in enumerate(cs):
        until = cs[i + 1]["t"] if i + 1 < len(cs) else end
        t += [r["t"], until]
        lo += [r["p_min_w"] / 1000] * 2
        hi += [r["p_max_w"] / 1000] * 2
    return t, lo, hi


def _marks(records: list[dict[str, Any]]) -> list[tuple[float, str, str]]:
    out = []
    for r in records:
        if r["src"] == "step":
            out.append((r["t"], r.get("say", r.get("do", "")), "tab:gray"))
        elif r["src"] == "process":
            out.append((r["t"], f"{r['target']} {r['event']}", "tab:red"))
        elif (r["src"] == "ocpp" and r.get("direction") == "station->csms"
              and r.get("action") == "NotifyDERAlarm"):
            ended = r["frame"][3].get("alarmEnded", False)
            out.append((r["t"], f"DER alarm {'ends' if ended else 'starts'}", "tab:purple"))
    return out


def plot_run(records: list[dict[str, Any]], path: Path, sc: Scenario) -> Path:
    end = max((r["t"] for r in records), default=sc.duration_s)
    n_marks = len(_marks(records))
    key_in = 0.14 * ((n_marks + 1) // 2) + 0.3  # inches for the key under the plots
    fig, axes = plt.subplots(4, 1, figsize=(12, 10 + key_in), sharex=True,
                             gridspec_kw={"height_ratios": [2, 2, 3, 1.5]})
    f_ax, v_ax, p_ax, s_ax = axes
    t, f = _series(records, "frequency_hz")
    f_ax.plot(t, f, color="tab:blue", lw=1)
    f_ax.set_ylabel("grid frequency (Hz)")
    ms = [r for r in records if r["src"] == "hal" and r.get("type") == "measurement"]
    for phase in range(3):
        pts = [(r["t"], r["voltage_v"][phase]) for r in ms if len(r["voltage_v"]) > phase]
        if pts:
            v_ax.plot(*zip(*pts, strict=True), lw=0.8, label=f"L{phase + 1}")
    v_ax.set_ylabel("grid voltage (V)")
    if ms:
        v_ax.legend(loc="upper right", fontsize=8)
    t, req = _series(records, "requested_w")
    p_ax.plot(t, [w / 1000 for w in req], color="tab:orange", lw=1.2, ls="--",
              label="requested (controller)")
    at, lo, hi = _allowed(records, end)
    if at:
        p_ax.fill_between(at, lo, hi, color="tab:green", alpha=0.12, label="allowed (hal's grid)")
    t, act = _series(records, "active_w")
    p_ax.plot(t, [w / 1000 for w in act], color="black", lw=1.5, label="actual (meter)")
    p_ax.axhline(0, color="gray", lw=0.5)
    p_ax.set_ylabel("power (kW)\n+ charge / - discharge")
    p_ax.legend(loc="upper right", fontsize=8)
    soc = [(r["t"], r["soc_pct"]) for r in records if r["src"] == "car"
           and isinstance(r.get("soc_pct"), int | float)]
    if soc:
        s_ax.plot(*zip(*soc, strict=True), color="tab:cyan")
    else:
        s_ax.text(0.5, 0.5, "no SOC: this car does not report one (no ISO 15118 session)",
                  ha="center", va="center", transform=s_ax.transAxes, color="gray")
    s_ax.set_ylabel("car SOC (%)")
    s_ax.set_xlabel("scenario time (s)")
    for ax in axes:
        ax.grid(alpha=0.3)
    marks = _marks(records)
    for i, (x, _, color) in enumerate(marks, 1):
        for ax in axes:
            ax.axvline(x, color=color, lw=0.7, alpha=0.6)
        f_ax.annotate(str(i), (x, 1.0), xycoords=("data", "axes fraction"), fontsize=7,
                      ha="center", va="bottom", color=color)
    # The key to the numbered marks, in columns under the plots.
    rows = [f"{i:>2}  {x:6.1f} s  {label[:70]}" for i, (x, label, _) in enumerate(marks, 1)]
    per_col = max(1, -(-len(rows) // 2))
    for col in range(2):
        fig.text(0.02 + 0.5 * col, 0.01, "\n".join(rows[col * per_col:(col + 1) * per_col]),
                 family="monospace", fontsize=7, va="bottom")
    fig.suptitle(f"evse sim --scenario {sc.name}: {sc.description}", fontsize=10)
    fig.tight_layout(rect=(0.0, key_in / (10 + key_in), 1.0, 0.98))
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
