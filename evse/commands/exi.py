"""`evse exi decode|encode`: read and write ISO 15118 EXI captures as JSON.

`decode` takes what a person captures: one EXI message as hex; V2GTP-framed hex, one
message per line or a whole stream; or a pcap / pcapng file of a session (`--pcap`),
TLS 1.3 decrypted with the key log our SECC writes (`--keylog`).
One message prints as one JSON document; several print as JSON lines, each with its
time (from the capture), endpoints, payload type and the decoded message.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from evse.commands.exi_capture import CaptureError, Found, read_packets, scan
from evse.iso15118 import v2gtp
from evse.iso15118.exi.codec import NAMESPACES, Codec, find_namespace
from evse.iso15118.exi.errors import ExiError
from evse.iso15118.tls_keylog import KeyLog, KeyLogError, parse_key_log

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
    dec.add_argument(
        "hex", nargs="?",
        help="EXI as hex, or V2GTP-framed hex (one message per line or a stream); '-' = stdin",
    )
    dec.add_argument("--pcap", metavar="FILE", help="a pcap / pcapng capture of a session")
    dec.add_argument(
        "--keylog", metavar="FILE",
        help="TLS key log (NSS format, the SECC's `key_log`): decrypt TLS 1.3 in --pcap",
    )
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
    if args.pcap is not None:
        return _decode_capture(args.pcap, args.keylog)
    if args.keylog is not None:
        print("evse exi: --keylog goes with --pcap FILE", file=sys.stderr)
        return 2
    if args.hex is None:
        print("evse exi: give hex, '-' for stdin, or --pcap FILE", file=sys.stderr)
        return 2
    text = "".join(_read(args.hex).split())
    try:
        data = bytes.fromhex(text)
    except ValueError as e:
        print(f"evse exi: input is not hex: {e}", file=sys.stderr)
        return 1
    namespace = args.namespace
    if data[:2] == _V2GTP_HEADER and len(data) >= 8:
        # V2GTP: version, inverse version, payload type (u16), length (u32), payload.
        framer = v2gtp.Framer()
        items = framer.feed(data)
        if len(items) != 1 or framer.buffered:
            return _decode_stream(items, framer.buffered)
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


def _message_json(msg: v2gtp.V2gtpMessage) -> dict[str, Any]:
    """The decoded form of one V2GTP message (SDP shown as its fields)."""
    out: dict[str, Any] = {"payload_type": f"{msg.payload_type:#06x}"}
    if msg.payload_type in (v2gtp.SDP_REQ, v2gtp.SDP_RES):
        out["sdp"] = msg.payload.hex()
        return out
    try:
        codec = Codec.for_namespace(msg.payload_type)
        out["namespace"] = codec.namespace.short
        out["message"] = codec.decode(msg.payload)
    except ExiError as e:  # one bad message: say so, keep the rest of the capture
        out["error"] = str(e)
        out["exi"] = msg.payload.hex()
    return out


def _decode_stream(items: list[v2gtp.V2gtpMessage | v2gtp.V2gtpError], left: int) -> int:
    failed = False
    for item in items:
        if isinstance(item, v2gtp.V2gtpError):
            print(json.dumps({"error": f"V2GTP: {item.detail}"}))
            return 1
        record = _message_json(item)
        failed = failed or "error" in record
        print(json.dumps(record))
    if left:
        print(json.dumps({"error": f"{left} bytes after the last whole message"}))
        return 1
    return 1 if failed else 0


def _decode_capture(path: str, keylog: str | None) -> int:
    key_log: KeyLog | None = None
    if keylog is not None:
        try:
            with open(keylog, encoding="ascii") as f:
                key_log = parse_key_log(f.read())
        except (OSError, UnicodeDecodeError, KeyLogError) as e:
            print(f"evse exi: key log {keylog}: {e}", file=sys.stderr)
            return 1
    try:
        with open(path, "rb") as f:
            found = list(scan(read_packets(f.read()), key_log))
    except (OSError, CaptureError) as e:
        print(f"evse exi: {path}: {e}", file=sys.stderr)
        return 1
    if not found:
        print(f"evse exi: {path}: no V2GTP message (TCP or SDP) in the capture", file=sys.stderr)
        return 1
    t0 = found[0].time
    failed = False
    for item in found:
        record = _found_json(item, t0)
        failed = failed or "error" in record
        print(json.dumps(record))
    return 1 if failed else 0


def _found_json(item: Found, t0: float) -> dict[str, Any]:
    stamp = datetime.fromtimestamp(item.time, UTC).isoformat(timespec="microseconds")
    record: dict[str, Any] = {"time": stamp, "t": round(item.time - t0, 6),
                              "src": item.src, "dst": item.dst}
    if item.kind == "tls":
        record["tls"] = item.note if item.note != "TLS: not decrypted" else (
            "TLS: not decrypted (no key log given: --keylog FILE)")
    elif item.kind == "error" or item.message is None:
        record["error"] = item.note
    else:
        record.update(_message_json(item.message))
    return record


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
