"""The local MQTT API (issue 14): latency from a setpoint published on the broker to
hal's setpoint changed, with status publishing running; RSS added by the API; a flood.

Real processes, as on a station: mosquitto on a loopback port, hal on simulated devices
(sample 10 ms, reports every 10 ms), `evse run` with `[mqtt] local_mode =
"ExternalSetpoint"` (status every 0.2 s at most while the power moves), an MQTT client and
a hal observer here. Per setpoint: from just before the publish until the observer reads a
Measurement whose setpoint_w is the new value (its report period, 10 ms, is included).
RSS: VmRSS of `evse run` after 5 s, with and without `[mqtt]`. Flood: 10,000 commands from
a separate process; hal's keep-alive losses and the longest gap between measurements at
the observer are reported. Environment: BENCH_MQTT_N (setpoints, default 100).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt

from bench.bench_dynamic_schedule import Observer, pct
from tests.conftest import HalProcess, sim_config
from tests.integration.api.mqtt_rig import Mosquitto, free_port

FLOOD = Path(__file__).resolve().parents[1] / "tests/integration/api/flood_client.py"


def config(workdir: Path, port: int | None) -> Path:
    path = sim_config(workdir, period_ms=10, keepalive_timeout_s=0.5)
    text = path.read_text().replace("report_period_ms = 50", "report_period_ms = 10")
    if port is not None:
        text += (f'\n[mqtt]\nport = {port}\ntopic_prefix = "test/evse"\n'
                 'local_mode = "ExternalSetpoint"\nstatus_min_interval_s = 0.2\n'
                 "status_period_s = 5.0\n")
    path.write_text(text)
    return path


async def evse_run(cfg: Path, log: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "evse.cli", "run", "--config", str(cfg), stderr=log.open("ab"))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)


async def rss_of(workdir: Path, port: int | None) -> int:
    d = workdir / ("with" if port else "without")
    d.mkdir()
    cfg = config(d, port)
    hal = HalProcess(cfg).start()
    proc = await evse_run(cfg, d / "evse.log")
    try:
        await asyncio.sleep(5.0)
        return rss_kib(proc.pid)
    finally:
        await stop(proc)
        hal.stop()


async def latency(workdir: Path, port: int, n: int) -> None:
    d = workdir / "latency"
    d.mkdir()
    cfg = config(d, port)
    hal = HalProcess(cfg).start()
    proc = await evse_run(cfg, d / "evse.log")
    obs = Observer()
    watch = asyncio.create_task(obs.run(hal.socket))
    try:
        async with aiomqtt.Client("127.0.0.1", port, identifier="bench-ems") as c:
            await c.subscribe("test/evse/#")  # status publishing runs (and is read)
            status = asyncio.Event()

            async def read() -> None:
                async for m in c.messages:
                    if m.topic.value.endswith("/status"):
                        status.set()

            reader = asyncio.create_task(read())
            await asyncio.wait_for(status.wait(), 60)  # the API is connected
            rng = random.Random(2026)
            lat: list[float] = []
            for i in range(n):
                await asyncio.sleep(rng.random() * 0.3)
                watts = 2000.0 + 100.0 * (i % 40) + (0.0 if i % 2 else 3000.0)
                t0 = time.monotonic()
                await c.publish("test/evse/evse/1/set/setpoint",
                                json.dumps({"w": watts, "expires_in_s": 60}), qos=1)
                lat.append(await obs.wait_setpoint(watts) - t0)
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        ms = [x * 1e3 for x in lat]
        print(f"MQTT setpoint -> hal setpoint_w ({n} setpoints, status on): median "
              f"{statistics.median(ms):.1f} ms  p99 {pct(ms, 0.99):.1f} ms  "
              f"min {min(ms):.1f} ms  max {max(ms):.1f} ms")
        await flood(hal, port)
    finally:
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)
        await stop(proc)
        hal.stop()


async def flood(hal: HalProcess, port: int) -> None:
    reader, writer = await asyncio.open_unix_connection(str(hal.socket))
    from hal import protocol as p

    writer.write(p.encode_message(p.Hello(p.PROTOCOL_VERSION, "bench", p.ROLE_OBSERVER)))
    dec = p.FrameDecoder()
    gaps: list[float] = []
    lost = 0

    async def read() -> None:
        nonlocal lost
        last = time.monotonic()
        while data := await reader.read(65536):
            for frame in dec.feed(data):
                msg = p.decode_message(frame)
                if isinstance(msg, p.Measurement):
                    now = time.monotonic()
                    gaps.append(now - last)
                    last = now
                elif isinstance(msg, p.Event) and msg.kind == "keepalive_lost":
                    lost += 1

    task = asyncio.create_task(read())
    t0 = time.monotonic()
    proc = await asyncio.create_subprocess_exec(sys.executable, str(FLOOD), str(port), "10000",
                                                stdout=asyncio.subprocess.DEVNULL)
    await proc.wait()
    took = time.monotonic() - t0
    await asyncio.sleep(1.0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    writer.close()
    print(f"flood of 10,000 commands ({took:.1f} s to send): hal keep-alive lost {lost} "
          f"times; measurements at the observer: {len(gaps)}, longest gap "
          f"{max(gaps) * 1e3:.0f} ms (report period 10 ms)")


async def bench(workdir: Path) -> int:
    n = int(os.environ.get("BENCH_MQTT_N", "100"))
    port = free_port()
    broker = Mosquitto(workdir, port).start()
    try:
        await latency(workdir, port, n)
        without, with_api = await rss_of(workdir, None), await rss_of(workdir, port)
        print(f"RSS of evse run: {without / 1024:.1f} MiB without [mqtt], "
              f"{with_api / 1024:.1f} MiB with it: +{(with_api - without) / 1024:.1f} MiB")
    finally:
        broker.stop()
    return 0


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="evse-"))  # short: AF_UNIX path limit
    try:
        return asyncio.run(bench(workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
