"""`python -m evse.iso15118.exi.generator [SCHEMA_DIR] [OUT_DIR]` (run by `make grammars`)."""

from __future__ import annotations

import argparse
import os
import sys

from evse.iso15118.exi.generator import generate_all

_DEFAULT_OUT = os.path.join(os.path.dirname(os.path.dirname(__file__)), "_generated")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evse.iso15118.exi.generator")
    parser.add_argument("schemas", nargs="?", default="../shared/iso15118/schemas")
    parser.add_argument("out", nargs="?", default=_DEFAULT_OUT)
    args = parser.parse_args(argv)
    for path in generate_all(args.schemas, args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
