"""Consistent Overhead Byte Stuffing (Cheshire & Baker, 1999).

Removes every 0x00 from a payload so 0x00 can delimit frames on the wire: each block
starts with a code byte = 1 + number of following non-zero bytes (0xFF: 254 bytes and
no implied zero). Pure functions; `decode` rejects malformed input with `CobsError`.
"""

from __future__ import annotations


class CobsError(ValueError):
    """The bytes are not a valid COBS encoding."""


def encode(data: bytes) -> bytes:
    out = bytearray()
    block = bytearray()
    for b in data:
        if b == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(b)
            if len(block) == 254:
                out.append(0xFF)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def decode(data: bytes) -> bytes:
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise CobsError("zero byte inside a frame")
        end = i + code
        if end > n:
            raise CobsError("block runs past the end of the frame")
        block = data[i + 1 : end]
        if 0 in block:
            raise CobsError("zero byte inside a frame")
        out += block
        i = end
        # A code below 0xFF implies a zero, except after the last block.
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)
