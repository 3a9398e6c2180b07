"""`evse exi decode|encode`: read and write ISO 15118 EXI captures as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from evse.iso15118.exi.codec import NAMESPACES, Codec, find_namespace
from evse.iso15118.exi.errors import ExiError

HELP = "decode EXI hex to the JSON form, or encode the JSON form to EXI hex"

_V2GTP_HEADER = bytes((0x01, 0xFE))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    choices = [ns.short for ns in NAMESPACES]
    sub = parser.add_subparsers(dest="exi_command", metavar="decode|encode", required=True)
    dec = sub.add_parser("decode", help="EXI hex (or '-' for stdin) -> JSON")
    dec.add_argument(
        "--namespace",
        choices=choices,
        help="grammar set; optional when the hex starts with a V2GTP header",
    )
    dec.add_argument("hex", help="EXI stream as hex, optionally with a V2GTP header; '-' = stdin")
    enc = sub.add_parser("encode", help="JSON file (or '-' for stdin) -> EXI hex")
    enc.add_argument("--namespace", choices=choices, required=True, help="grammar set")
    enc.add_argument("file", help="JSON document, one key: the message name; '-' = stdin")
    enc.add_argument(
        "--v2gtp", action="store_true",
        help="prefix the V2GTP header (version, payload type of the namespace, length)",
    )


def _read(arg: str) -> str:
    if arg == "-":
        return sys.stdin.read()
    return arg


def _decode(args: argparse.Namespace) -> int:
    text = "".join(_read(args.hex).split())
    try:
        data = bytes.fromhex(text)
    except ValueError as e:
        print(f"evse exi: input is not hex: {e}", file=sys.stderr)
        return 1
    namespace = args.namespace
    if data[:2] == _V2GTP_HEADER and len(data) >= 8:
        # V2GTP: version, inverse version, payload type (u16), length (u32), payload.
        payload_type = int.from_bytes(data[2:4], "big")
        if namespace is None:
            namespace = find_namespace(payload_type).short
        data = data[8:]
    if namespace is None:
        print("evse exi: --namespace is required without a V2GTP header", file=sys.stderr)
        return 2
    document = Codec.for_namespace(namespace).decode(data)
    print(json.dumps(document, indent=2))
    return 0


def _encode(args: argparse.Namespace) -> int:
    try:
        if args.file == "-":
            document: Any = json.load(sys.stdin)
        else:
            with open(args.file, encoding="utf-8") as f:
                document = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        print(f"evse exi: cannot read JSON: {e}", file=sys.stderr)
        return 1
    codec = Codec.for_namespace(args.namespace)
    payload = codec.encode(document)
    if args.v2gtp:
        header = _V2GTP_HEADER + codec.namespace.payload_type.to_bytes(2, "big")
        payload = header + len(payload).to_bytes(4, "big") + payload
    print(payload.hex())
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        return _decode(args) if args.exi_command == "decode" else _encode(args)
    except ExiError as e:
        print(f"evse exi: {e}", file=sys.stderr)
        return 1
