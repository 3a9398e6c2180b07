"""Paths and loaders shared by the EXI codec tests (imported by name, not a fixture)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
PROJECT_VECTORS = ROOT / "tests" / "data" / "iso15118-20-vectors.json"
SHARED = Path(os.environ.get("ISO15118_SHARED", ROOT.parent / "shared" / "iso15118"))
SHARED_VECTORS = SHARED / "vectors" / "iso15118-20-vectors-openstack-tests.json"
SCHEMAS = SHARED / "schemas"


def load_vectors(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        vectors: list[dict[str, Any]] = json.load(f)
    return vectors
