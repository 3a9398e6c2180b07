"""Run every benchmark module `bench/bench_*.py` (its `main() -> int`), or the ones named.

`python -m bench` runs all; `python -m bench exi trip` runs bench_exi and bench_trip.
Each writes its numbers to stdout and, where it makes sense, files under bench/out/.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import bench


def main(argv: list[str]) -> int:
    names = sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules(bench.__path__)
        if m.name.startswith("bench_")
    )
    chosen = argv or names
    status = 0
    for name in chosen:
        if name not in names:
            print(f"bench: no benchmark {name!r} (have: {', '.join(names)})", file=sys.stderr)
            return 2
        print(f"== bench {name} ==", flush=True)
        module = importlib.import_module(f"bench.bench_{name}")
        status |= int(module.main())
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
