"""The `iso15118` package's Java codec (EXIficient over py4j) as a subprocess peer.

The package lives in its own virtual environment (`.venv/josev`, shared with
`bench/bench_exi.py`) so its pinned dependencies never touch the project's. The peer
reads one JSON request per line on stdin and answers one JSON line on stdout.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
JOSEV_VENV = ROOT / ".venv" / "josev"
JOSEV_VERSION = "0.31.2"

_SERVER = r"""
import json, sys
from iso15118.shared.exificient_exi_codec import ExificientEXICodec
codec = ExificientEXICodec()
for line in sys.stdin:
    req = json.loads(line)
    try:
        if req["op"] == "encode":
            out = bytes(codec.encode(json.dumps(req["doc"]), req["ns"])).hex()
        else:
            out = json.loads(codec.decode(bytes.fromhex(req["hex"]), req["ns"]))
        print(json.dumps({"ok": out}), flush=True)
    except Exception as e:  # report the peer's failure to the test, keep serving
        print(json.dumps({"error": str(e)}), flush=True)
"""


def unavailable_reason() -> str | None:
    """Why the Java peer cannot run here, or None when it can (installing it if needed)."""
    if shutil.which("java") is None:
        return "Java is not installed (the iso15118 package's codec needs a JVM)"
    python = JOSEV_VENV / "bin" / "python"
    marker = JOSEV_VENV / ".iso15118-installed"
    if marker.exists():
        return None
    try:
        subprocess.run([sys.executable, "-m", "venv", str(JOSEV_VENV)], check=True, timeout=120)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--timeout",
                "15",
                "--retries",
                "1",
                f"iso15118=={JOSEV_VERSION}",
            ],
            check=True,
            timeout=300,
            capture_output=True,
        )
        marker.touch()
    except (subprocess.SubprocessError, OSError) as e:
        shutil.rmtree(JOSEV_VENV, ignore_errors=True)
        return f"could not install iso15118=={JOSEV_VERSION} from PyPI: {e}"
    return None


class JavaPeer:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [str(JOSEV_VENV / "bin" / "python"), "-c", _SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def _call(self, request: dict[str, Any]) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer["ok"]

    def encode(self, namespace: str, doc: dict[str, Any]) -> bytes:
        return bytes.fromhex(self._call({"op": "encode", "ns": namespace, "doc": doc}))

    def decode(self, namespace: str, data: bytes) -> dict[str, Any]:
        result: dict[str, Any] = self._call({"op": "decode", "ns": namespace, "hex": data.hex()})
        return result

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
