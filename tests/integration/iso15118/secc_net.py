"""Test plumbing for the SECC: a veth pair with one end in a network namespace of its
own (the car's side), and a throwaway PKI (SECC chain, OEM root + car chain)."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from evse.sim.netns import station_netns, why_not_available

WAIT_S = 20.0


def can_make_netns() -> str | None:
    """Why a veth / netns test cannot run here, or None."""
    return why_not_available()


@dataclass(frozen=True)
class VethPair:
    netns: str
    secc_if: str  # in the root namespace (where the test runs the SECC)
    ev_if: str  # inside `netns` (where the car runs)


@contextmanager
def veth_pair(tag: str) -> Iterator[VethPair]:
    """A veth pair, the car's end in a fresh namespace, both with usable link-local
    addresses (evse.sim.netns without modems, the SECC's end in our namespace). `tag`
    is kept for the callers; the names are unique anyway."""
    del tag
    with station_netns(modems=False, evse_netns=False) as net:
        assert net.ev.netns is not None
        yield VethPair(net.ev.netns, net.evse.ip_if, net.ev.ip_if)


@dataclass(frozen=True)
class Pki:
    secc_root: Path  # what the car trusts
    secc_chain: Path
    secc_key: Path
    oem_root: Path  # what the SECC trusts for cars
    ev_chain: Path
    ev_key: Path
    stranger_chain: Path  # a car chain from a root the SECC does not know
    stranger_key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    ca: bool,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(issuer_key, hashes.SHA512())


def _write(path: Path, *items: x509.Certificate | ec.EllipticCurvePrivateKey) -> Path:
    data = b""
    for item in items:
        if isinstance(item, x509.Certificate):
            data += item.public_bytes(serialization.Encoding.PEM)
        else:
            data += item.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
    path.write_bytes(data)
    return path


def make_pki(d: Path) -> Pki:
    """-20 uses secp521r1 certificates; so do these."""
    curve = ec.SECP521R1()
    keys = {k: ec.generate_private_key(curve) for k in ("v2g", "secc", "oem", "ev", "x", "xev")}
    v2g = _cert("V2G Root", keys["v2g"], "V2G Root", keys["v2g"], ca=True)
    secc = _cert("SECC DE*ABC*E1", keys["secc"], "V2G Root", keys["v2g"], ca=False)
    oem = _cert("OEM Root", keys["oem"], "OEM Root", keys["oem"], ca=True)
    ev = _cert("EV WMIV1234567890", keys["ev"], "OEM Root", keys["oem"], ca=False)
    stranger_root = _cert("Other Root", keys["x"], "Other Root", keys["x"], ca=True)
    stranger = _cert("EV other", keys["xev"], "Other Root", keys["x"], ca=False)
    del stranger_root
    return Pki(
        secc_root=_write(d / "v2g_root.pem", v2g),
        secc_chain=_write(d / "secc_chain.pem", secc, v2g),
        secc_key=_write(d / "secc_key.pem", keys["secc"]),
        oem_root=_write(d / "oem_root.pem", oem),
        ev_chain=_write(d / "ev_chain.pem", ev),
        ev_key=_write(d / "ev_key.pem", keys["ev"]),
        stranger_chain=_write(d / "stranger_chain.pem", stranger),
        stranger_key=_write(d / "stranger_key.pem", keys["xev"]),
    )
