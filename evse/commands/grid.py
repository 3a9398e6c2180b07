"""`evse grid report`: every active grid function of a preset or a station config, in
the units a connection agreement uses, as text and (with --png) as a plot."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evse.commands.common import EXIT_CONFIG
from hal.config_reader import ConfigError, Table
from hal.devices.base import PowerStageRating
from hal.grid.settings import GridSettings, parse_grid_settings, shipped_presets

HELP = "report grid settings (evse grid report --preset NAME | --config FILE [--png FILE])"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["report"])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", help=f"a shipped preset: {', '.join(shipped_presets())}")
    src.add_argument("--config", help="a station config: its preset with its overrides")
    p.add_argument("--evse", type=int, help="with --config: the EVSE whose ratings to use")
    p.add_argument("--charge-w", type=float, default=11000.0, help="with --preset (11000)")
    p.add_argument("--discharge-w", type=float, default=11000.0, help="with --preset (11000)")
    p.add_argument("--var", type=float, default=4840.0, help="with --preset (4840)")
    p.add_argument("--png", type=Path, help="also draw the settings into this PNG file")


def _load(args: argparse.Namespace) -> tuple[GridSettings, PowerStageRating]:
    if args.preset is not None:
        rating = PowerStageRating(args.charge_w, args.discharge_w, args.var, 3)
        return parse_grid_settings(Table({"preset": args.preset}, "grid"), Path.cwd()), rating
    from evse.config import load_station

    cfg = load_station(args.config)
    units = {u.id: u for u in cfg.hal.evses}
    unit = units.get(args.evse) if args.evse is not None else next(iter(units.values()))
    if unit is None:
        raise ConfigError("--evse", args.evse, f"no such EVSE (have {sorted(units)})")
    return cfg.hal.grid, PowerStageRating(
        unit.max_charge_w, unit.max_discharge_w, unit.max_var, unit.phases
    )


def run(args: argparse.Namespace) -> int:
    from hal.grid.report import plot, report_lines

    try:
        settings, rating = _load(args)
    except ConfigError as exc:
        print(f"evse grid report: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print("\n".join(report_lines(settings, rating)))
    if args.png is not None:
        plot(settings, rating, args.png)
        print(f"\nplot written to {args.png}")
    return 0
