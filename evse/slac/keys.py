"""Network membership keys (NMK) and the network identifier (NID) derived from them."""

from __future__ import annotations

import hashlib
import secrets

from evse.slac.messages import NID_LEN, NMK_LEN


def new_nmk() -> bytes:
    """A fresh random NMK: each plug-in gets its own logical network (ISO 15118-3)."""
    return secrets.token_bytes(NMK_LEN)


def nid_from_nmk(nmk: bytes, security_level: int = 0) -> bytes:
    """HomePlug AV NID: SHA-256 of the NMK, rehashed four times; 52 bits + 2-bit level.

    The first 7 octets of the digest are kept; the last one keeps only its upper nibble
    (shifted down) with the security level above it.
    """
    if len(nmk) != NMK_LEN:
        raise ValueError("an NMK is 16 bytes")
    digest = hashlib.sha256(nmk).digest()
    for _ in range(4):
        digest = hashlib.sha256(digest).digest()
    nid = bytearray(digest[:NID_LEN])
    nid[-1] = (nid[-1] >> 4) | ((security_level & 0x3) << 4)
    return bytes(nid)
