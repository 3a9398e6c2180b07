"""EXI codec: median and p99 encode/decode per message, RSS added by importing the codec,
and the `iso15118` package's Java (EXIficient over py4j) path on the same documents.

The Java peer runs in its own virtual environment (`.venv/josev`, created on first use
from PyPI) so its pinned dependencies never touch the project's environment.
Set EXI_BENCH_JAVA=0 to skip it.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "tests" / "data" / "iso15118-20-vectors.json"
JOSEV_VENV = ROOT / ".venv" / "josev"
JOSEV_VERSION = "0.31.2"
OUT = ROOT / "bench" / "out"
MESSAGES = (
    "DC_ChargeLoopReq",
    "DC_ChargeLoopRes",
    "AC_ChargeLoopReq",
    "AC_ChargeLoopRes",
    "ScheduleExchangeRes",
    "ServiceDiscoveryRes",
)
GOAL_US = 50.0
RUNS = 5000


def _documents() -> list[dict[str, Any]]:
    with open(VECTORS, encoding="utf-8") as f:
        vectors = json.load(f)
    chosen = []
    for name in MESSAGES:
        candidates = [v for v in vectors if name in v["json"]]
        # The largest capture of each message: the worst case we have seen.
        chosen.append(max(candidates, key=lambda v: len(v["exi_hex"])))
    return chosen


def _times_us(fn: Callable[[Any], Any], arg: Any, runs: int) -> tuple[float, float]:
    for _ in range(min(200, runs)):
        fn(arg)
    samples = []
    clock = time.perf_counter_ns
    for _ in range(runs):
        t0 = clock()
        fn(arg)
        samples.append(clock() - t0)
    samples.sort()
    return statistics.median(samples) / 1000, samples[int(len(samples) * 0.99)] / 1000


def _rss_added_by_import() -> dict[str, float]:
    code = textwrap.dedent(
        """
        import json
        def rss():
            for line in open('/proc/self/status'):
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
        before = rss()
        from evse.iso15118.exi.codec import NAMESPACES, Codec
        after_import = rss()
        codecs = [Codec(ns) for ns in NAMESPACES]
        after_tables = rss()
        for c in codecs:
            c.types
        after_types = rss()
        print(json.dumps([before, after_import, after_tables, after_types]))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    before, imported, tables, types = json.loads(out.stdout)
    return {
        "import_kib": imported - before,
        "all_six_grammar_sets_kib": tables - before,
        "plus_typed_classes_kib": types - before,
    }


_JAVA_SCRIPT = """
import json, statistics, sys, time
from iso15118.shared.exificient_exi_codec import ExificientEXICodec
docs, runs = json.load(sys.stdin), int(sys.argv[1])
codec = ExificientEXICodec()
def times(fn):
    for _ in range(20):
        fn()
    s = []
    for _ in range(runs):
        t0 = time.perf_counter_ns(); fn(); s.append(time.perf_counter_ns() - t0)
    s.sort()
    return statistics.median(s) / 1000, s[int(len(s) * 0.99)] / 1000
out = {}
for v in docs:
    name = next(iter(v["json"]))
    data, text, ns = bytes.fromhex(v["exi_hex"]), json.dumps(v["json"]), v["namespace"]
    assert bytes(codec.encode(text, ns)) == data
    out[name] = {"encode": times(lambda: codec.encode(text, ns)),
                 "decode": times(lambda: codec.decode(data, ns))}
import psutil  # a dependency of the iso15118 package
me = psutil.Process()
out["_rss_kib"] = sum(p.memory_info().rss for p in [me, *me.children(recursive=True)]) // 1024
print(json.dumps(out))
"""


def _josev_python() -> tuple[Path | None, str]:
    if os.environ.get("EXI_BENCH_JAVA") == "0":
        return None, "EXI_BENCH_JAVA=0"
    if shutil.which("java") is None:
        return None, "no java on PATH"
    python = JOSEV_VENV / "bin" / "python"
    marker = JOSEV_VENV / ".iso15118-installed"  # shared with tests/unit/exi
    if not marker.exists():
        print(f"   installing iso15118=={JOSEV_VERSION} into {JOSEV_VENV} ...", flush=True)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(JOSEV_VENV)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "--timeout", "15",
                 "--retries", "1", f"iso15118=={JOSEV_VERSION}"],
                check=True, timeout=600, capture_output=True,
            )
            marker.touch()
        except (subprocess.SubprocessError, OSError) as e:
            shutil.rmtree(JOSEV_VENV, ignore_errors=True)
            return None, f"could not install iso15118: {e}"
    return python, ""


def _java_times(docs: list[dict[str, Any]], runs: int) -> tuple[dict[str, Any], str]:
    python, reason = _josev_python()
    if python is None:
        return {}, reason
    try:
        out = subprocess.run(
            [str(python), "-c", _JAVA_SCRIPT, str(runs)], input=json.dumps(docs),
            capture_output=True, text=True, check=True, timeout=900,
        )
    except subprocess.SubprocessError as e:
        return {}, f"Java path failed: {e}"
    result: dict[str, Any] = json.loads(out.stdout)
    return result, ""


def main() -> int:
    from evse.iso15118.exi.codec import Codec

    docs = _documents()
    rows: dict[str, Any] = {}
    for v in docs:
        name = next(iter(v["json"]))
        codec = Codec.for_namespace(v["namespace"])
        data = bytes.fromhex(v["exi_hex"])
        assert codec.encode(v["json"]) == data and codec.decode(data) == v["json"]
        rows[name] = {
            "bytes": len(data),
            "encode": _times_us(codec.encode, v["json"], RUNS),
            "decode": _times_us(codec.decode, data, RUNS),
        }
    rss = _rss_added_by_import()
    java, why = _java_times(docs, int(os.environ.get("EXI_BENCH_JAVA_RUNS", "200")))

    from evse.iso15118.exi import decoder

    compiled = not decoder.__file__.endswith(".py")
    impl = "mypyc-compiled (make exi-mypyc)" if compiled else "pure Python"
    print(f"python {sys.version.split()[0]}, codec {impl}, {RUNS} runs per message; microseconds")
    header = f"{'message':22} {'bytes':>5}  {'enc med':>8} {'enc p99':>8}"
    header += f"  {'dec med':>8} {'dec p99':>8}"
    if java:
        header += f"  {'java enc':>9} {'java dec':>9}  {'x enc':>6} {'x dec':>6}"
    print(header)
    for name, r in rows.items():
        line = (
            f"{name:22} {r['bytes']:5}  {r['encode'][0]:8.1f} {r['encode'][1]:8.1f}"
            f"  {r['decode'][0]:8.1f} {r['decode'][1]:8.1f}"
        )
        if name in java:
            je, jd = java[name]["encode"][0], java[name]["decode"][0]
            r["java"] = java[name]
            line += f"  {je:9.0f} {jd:9.0f}  {je / r['encode'][0]:6.0f} {jd / r['decode'][0]:6.0f}"
        print(line)
    if not java:
        print(f"Java path: skipped ({why})")
    else:
        print(f"Java path RSS (Python + JVM processes after the run): {java['_rss_kib']} KiB")
    print(
        "RSS added: import {import_kib} KiB; with all six grammar sets loaded "
        "{all_six_grammar_sets_kib} KiB; plus typed classes {plus_typed_classes_kib} KiB".format(
            **rss
        )
    )
    goal = rows["DC_ChargeLoopReq"]
    worst = max(goal["encode"][0], goal["decode"][0])
    verdict = "meets" if worst <= GOAL_US else f"misses by {worst / GOAL_US:.1f}x"
    print(f"goal: DC_ChargeLoopReq encode and decode <= {GOAL_US:.0f} us median: {verdict}")
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "exi.json", "w", encoding="utf-8") as f:
        json.dump({"messages": rows, "rss": rss, "java_skipped": why, "codec": impl}, f, indent=2)
    return 0
