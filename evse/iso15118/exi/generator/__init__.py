"""EXI grammar generator: ISO 15118 XSDs in, committed Python tables out."""

from __future__ import annotations

import os

from evse.iso15118.exi.generator.classes import SHARED_MODULE, render_classes, render_shared
from evse.iso15118.exi.generator.emit import render, write
from evse.iso15118.exi.generator.grammar import Builder, Tables
from evse.iso15118.exi.generator.xsd import load

# short name -> (schema file relative to the schema dir, target namespace)
SCHEMA_SETS: dict[str, tuple[str, str]] = {
    "app": ("V2G_CI_AppProtocol.xsd", "urn:iso:15118:2:2010:AppProtocol"),
    "common": ("iso15118-20/V2G_CI_CommonMessages.xsd", "urn:iso:std:iso:15118:-20:CommonMessages"),
    "ac": ("iso15118-20/V2G_CI_AC.xsd", "urn:iso:std:iso:15118:-20:AC"),
    "dc": ("iso15118-20/V2G_CI_DC.xsd", "urn:iso:std:iso:15118:-20:DC"),
    "wpt": ("iso15118-20/V2G_CI_WPT.xsd", "urn:iso:std:iso:15118:-20:WPT"),
    "acdp": ("iso15118-20/V2G_CI_ACDP.xsd", "urn:iso:std:iso:15118:-20:ACDP"),
}


def build_tables(schema_dir: str, short: str) -> tuple[Tables, list[str]]:
    rel, namespace = SCHEMA_SETS[short]
    schemas = load(os.path.join(schema_dir, rel))
    sources = [os.path.relpath(f, schema_dir) for f in schemas.files]
    return Builder(schemas, namespace).build(), sources


def generate_all(schema_dir: str, out_dir: str) -> list[str]:
    """Write every namespace's tables and classes, and the shared classes module."""
    written = []
    shared: dict[str, str] = {}
    for short in SCHEMA_SETS:
        tables, sources = build_tables(schema_dir, short)
        path = os.path.join(out_dir, f"{short}.py")
        write(path, render(tables, sources))
        classes, shared_here = render_classes(tables, short)
        write(os.path.join(out_dir, f"{short}_types.py"), classes)
        for name, text in shared_here.items():
            if shared.setdefault(name, text) != text:
                raise ValueError(f"shared class {name} differs between schema sets")
        written += [path, os.path.join(out_dir, f"{short}_types.py")]
    path = os.path.join(out_dir, f"{SHARED_MODULE}.py")
    write(path, render_shared(shared))
    return [*written, path]
