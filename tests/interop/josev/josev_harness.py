"""Run the `iso15118` package ("Josev") as an independent peer over a veth pair.

Two network namespaces joined by one veth pair: the EV side and the charger side. Each
peer runs as a process inside its namespace (`ip netns exec`), so SDP multicast and the
TCP session stay on this link and never meet another test's SECC in the root namespace.

Josev is configured the way its README says: a `.env` in its working directory
(NETWORK_INTERFACE, PROTOCOLS, AUTH_MODES, ENABLE_TLS_1_3, ...) and, for its EVCC, a
JSON file (supportedProtocols, supportedEnergyServices, useTls, ...). It lives in its own
venv (`make josev-venv`: it pins pydantic 1 and cryptography 44).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
JOSEV_VENV = ROOT / ".venv-josev"
JOSEV_PYTHON = JOSEV_VENV / "bin" / "python"
WAIT_S = 60.0  # a limit for conditions ("it never happened"), never a timing
_COUNTER = itertools.count()


def unavailable_reason() -> str | None:
    """Why Josev cannot run here (None: it can). Builds its venv when missing."""
    if shutil.which("java") is None:
        return "no java on PATH (the iso15118 package encodes EXI with a bundled jar)"
    if os.geteuid() != 0:
        return "not root: the veth pair and network namespaces need CAP_NET_ADMIN"
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2) to make the veth pair"
    if not (JOSEV_VENV / ".installed").exists():
        done = subprocess.run(
            ["make", "-s", "josev-venv"], cwd=ROOT, capture_output=True, text=True,
            timeout=900, check=False,
        )
        if done.returncode != 0:
            return f"`make josev-venv` failed: {(done.stderr or done.stdout).strip()[-400:]}"
    return None


def _ip(*args: str, ns: str | None = None, check: bool = True) -> str:
    cmd = ["ip", *args] if ns is None else ["ip", "netns", "exec", ns, "ip", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {done.stderr.strip()}")
    return done.stdout


def _sysctl(ns: str, key: str, value: str) -> None:
    subprocess.run(
        ["ip", "netns", "exec", ns, "sysctl", "-q", "-w", f"{key}={value}"],
        capture_output=True, timeout=30, check=False,
    )


@dataclass(frozen=True)
class Link:
    """Two namespaces, one veth pair: `ev_if` in `ev_ns`, `secc_if` in `secc_ns`."""

    ev_ns: str
    ev_if: str
    secc_ns: str
    secc_if: str

    def link_local(self, side: str) -> str | None:
        ns, iface = (self.ev_ns, self.ev_if) if side == "ev" else (self.secc_ns, self.secc_if)
        out = _ip("-6", "addr", "show", "dev", iface, ns=ns, check=False)
        for line in out.splitlines():
            m = re.search(r"inet6 (fe80::[0-9a-f:]+)/64 scope link", line)
            if m and "tentative" not in line:
                return m.group(1)
        return None


@contextmanager
def veth_link() -> Iterator[Link]:
    """A fresh namespace pair with a veth between them; everything removed afterwards."""
    tag = f"{os.getpid() % 100000}{next(_COUNTER)}"
    link = Link(f"evsim-ev-{tag}", f"jve{tag}", f"evsim-secc-{tag}", f"jvs{tag}")
    try:
        for ns in (link.ev_ns, link.secc_ns):
            _ip("netns", "add", ns)
            _ip("link", "set", "lo", "up", ns=ns)
        _ip("link", "add", link.ev_if, "type", "veth", "peer", "name", link.secc_if)
        _ip("link", "set", link.ev_if, "netns", link.ev_ns)
        _ip("link", "set", link.secc_if, "netns", link.secc_ns)
        for ns, iface in ((link.ev_ns, link.ev_if), (link.secc_ns, link.secc_if)):
            # No duplicate address detection on a two-node link: the address is usable now.
            _sysctl(ns, f"net.ipv6.conf.{iface}.accept_dad", "0")
            _ip("link", "set", iface, "up", ns=ns)
        wait_for(lambda: link.link_local("ev") and link.link_local("secc"), "link-local addresses")
        yield link
    finally:
        for ns in (link.ev_ns, link.secc_ns):  # deleting a namespace deletes its veth end
            _ip("netns", "del", ns, check=False)


def wait_for(cond: Callable[[], object], what: str, limit_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + limit_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {limit_s:.0f} s")
        time.sleep(0.05)


class Peer:
    """One process inside a namespace, its output in `log_path`."""

    def __init__(self, ns: str, argv: Sequence[str], cwd: Path, name: str) -> None:
        self.name = name
        self.log_path = cwd / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, *argv], cwd=cwd, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, pattern: str, limit_s: float = WAIT_S) -> None:
        rx = re.compile(pattern)

        def seen() -> bool:
            if self.proc.poll() is not None and not rx.search(self.log()):
                raise AssertionError(f"{self.name} exited ({self.proc.returncode}):\n{self.tail()}")
            return rx.search(self.log()) is not None

        try:
            wait_for(seen, f"{self.name}: /{pattern}/", limit_s)
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- {self.name} log tail ---\n{self.tail()}") from None

    def wait_exit(self, limit_s: float = WAIT_S) -> int:
        try:
            return self.proc.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} still running after {limit_s:.0f} s:\n"
                                 f"{self.tail()}") from None

    def tail(self, lines: int = 40) -> str:
        return "\n".join(line[:400] for line in self.log().splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            # Our own process group (start_new_session): Josev's Java child goes too.
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(timeout=20)
        self._log.close()


def _write_env(cwd: Path, values: dict[str, str]) -> None:
    cwd.mkdir(parents=True, exist_ok=True)
    (cwd / ".env").write_text("".join(f"{k}={v}\n" for k, v in values.items()))


def make_pki(where: Path) -> Path:
    """Josev's test PKI for -20 (its own create_certs.sh, openssl), laid out where Josev
    reads it: it always looks under PKI_PATH/iso15118_2/, whatever the version."""
    site = next((JOSEV_VENV / "lib").glob("python3*/site-packages/iso15118/shared/pki"))
    pki = where / "pki"
    shutil.copytree(site, pki)
    done = subprocess.run(["bash", "create_certs.sh", "-v", "iso-20"], cwd=pki,
                          capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"create_certs.sh failed: {done.stderr[-1000:]}")
    (pki / "iso15118_20").rename(pki / "iso15118_2")
    return pki


def start_secc(link: Link, cwd: Path, *, tls: bool = False, enforce_tls: bool = False,
               protocols: str = "ISO_15118_20_AC,ISO_15118_20_DC",
               pki: Path | None = None) -> Peer:
    """Josev's SECC (its simulated EVSE controller) on the charger end of `link`."""
    _write_env(cwd, {
        "NETWORK_INTERFACE": link.secc_if,
        "LOG_LEVEL": "INFO",
        "PROTOCOLS": protocols,
        "AUTH_MODES": "EIM",
        "FREE_CHARGING_SERVICE": "True",
        "SECC_ENFORCE_TLS": str(enforce_tls),
        "ENABLE_TLS_1_3": str(tls),
        **({"PKI_PATH": f"{pki}/"} if pki is not None else {}),
    })
    peer = Peer(link.secc_ns, [str(JOSEV_PYTHON), "-m", "iso15118.secc.main"], cwd, "josev-secc")
    peer.wait_log(r"UDP server started")
    return peer


def evcc_config(service: str, *, tls: bool = False, loop_cycles: int = 5) -> dict[str, Any]:
    """Josev EVCC JSON config for one -20 energy service (AC, DC, AC_BPT, DC_BPT)."""
    protocol = "ISO_15118_20_DC" if service.startswith("DC") else "ISO_15118_20_AC"
    return {
        "supportedProtocols": [protocol],
        "supportedEnergyServices": [service],
        "useTls": tls,
        "enforceTls": tls,
        "isCertInstallNeeded": False,
        "sdpRetryCycles": 5,
        "chargeLoopCycle": loop_cycles,
    }


def start_evcc(link: Link, cwd: Path, config: dict[str, Any], *,
               tls: bool = False, runner: str | None = None,
               runner_args: Sequence[str] = (), pki: Path | None = None) -> Peer:
    """Josev's EVCC on the EV end of `link`. `runner`: a script run instead of its main
    (a subclass of its simulated EV controller, to choose Dynamic mode)."""
    cwd.mkdir(parents=True, exist_ok=True)
    (cwd / "ev.json").write_text(json.dumps(config))
    _write_env(cwd, {
        "NETWORK_INTERFACE": link.ev_if,
        "LOG_LEVEL": "INFO",
        "EVCC_CONFIG_PATH": str(cwd / "ev.json"),
        "ENABLE_TLS_1_3": str(tls),
        **({"PKI_PATH": f"{pki}/"} if pki is not None else {}),
    })
    argv = ([str(JOSEV_PYTHON), runner, *runner_args] if runner
            else [str(JOSEV_PYTHON), "-m", "iso15118.evcc.main"])
    return Peer(link.ev_ns, argv, cwd, "josev-evcc")


def messages(log: str) -> list[str]:
    """Names of the V2G messages a Josev log says it sent ("Sent XxxReq")."""
    return re.findall(r"Sent (\w+)", log)


def assert_clean(log: str, name: str) -> None:
    """A clean Josev run: its last message sent or received is SessionStop, no traceback."""
    assert "Traceback" not in log, f"{name} logged a traceback:\n{log[-3000:]}"
    seen = re.findall(r"(?:Sent|received:?) ?(\w+(?:Req|Res))|(\w+(?:Req|Res)) received", log)
    names = [a or b for a, b in seen]
    assert names, f"{name}: no V2G message in its log"
    assert names[-1] in ("SessionStopReq", "SessionStopRes"), (
        f"{name}: last message {names[-1]}, not SessionStop:\n{log[-3000:]}")
