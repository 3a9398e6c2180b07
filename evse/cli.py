"""The `evse` command: one entry point, one module per subcommand.

Each subcommand lives in `evse/commands/<name>.py` and exposes
`HELP: str`, `add_arguments(parser)` and `run(args) -> int`. Modules are imported
only when their subcommand runs, so `evse exi ...` does not pay for OCPP imports.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

# name -> module; keep sorted. Adding a subcommand is one line here plus its module.
COMMANDS: dict[str, str] = {
    "config": "evse.commands.config_cmd",
    "csms": "evse.commands.csms",
    "exi": "evse.commands.exi",
    "grid": "evse.commands.grid",
    "hal": "evse.commands.hal",
    "run": "evse.commands.run",
    "sim": "evse.commands.sim",
    "slac": "evse.slac.cli",  # logic in evse/slac/cli.py
}


def _load(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(COMMANDS[name])
    except ModuleNotFoundError as exc:
        # Only a missing command module is tolerated (a subcommand not built yet);
        # a missing dependency inside a module must surface.
        if exc.name == COMMANDS[name]:
            return None
        raise


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evse", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in sorted(COMMANDS):
        if only is not None and name != only:
            # Other subcommands are listed by name only, without importing them.
            sub.add_parser(name)
            continue
        module = _load(name)
        if module is None:
            continue
        p = sub.add_parser(name, help=str(module.HELP), description=str(module.HELP))
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    only = args_list[0] if args_list and args_list[0] in COMMANDS else None
    parser = build_parser(only)
    args = parser.parse_args(args_list)
    runner = getattr(args, "_run", None)
    if runner is None:
        if only is None:
            parser.print_help()
            return 2
        print(f"evse: subcommand {only!r} is not available in this build", file=sys.stderr)
        return 2
    result = runner(args)
    return int(result)


if __name__ == "__main__":
    sys.exit(main())
