"""The SLAC management messages (ISO 15118-3 Annex A, HomePlug Green PHY 1.1 ch. 11).

Each message is a frozen dataclass whose `FIELDS` give the wire order: an int is a fixed
run of bytes (identifiers, MACs, keys: sent as they are), "B" one octet, "H" a 16-bit
little-endian integer (HomePlug multi-octet integers are little-endian). The two
messages with an attenuation profile (a count then that many octets) pack themselves.
`encode` and `decode_frame` are the codec's two entry points.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar, Self

from evse.slac import frames as f
from evse.slac.frames import FrameError, Header, Reader

RUN_ID_LEN = 8
ID_LEN = 17  # PEV_ID / EVSE_ID / SenderID / SOURCE_ID / RESP_ID
NID_LEN = 7
NMK_LEN = 16
AAG_GROUPS = 58  # Green PHY attenuation groups (ISO 15118-3)

# CM_SET_KEY.REQ constants (HomePlug AV 1.1: NMK key type, HLE protocol id, new EKS).
KEY_TYPE_NMK = 0x01
PID_HLE = 0x04
NEW_EKS = 0x01
# CM_SET_KEY.CNF result: 0 = success in HomePlug AV 1.1 / GP, but Qualcomm firmware
# follows AV 1.0 and answers 1 on success; the peers we meet send both.
SET_KEY_OK_VALUES = (0x00, 0x01)
SET_KEY_RESULT_QCA_OK = 0x01
# CM_SLAC_PARM.CNF RESP_TYPE: 1 = send ATTEN_CHAR to "other GP station" (the EV host).
RESP_TYPE_OTHER_STATION = 0x01
# CM_VALIDATE.CNF result (ISO 15118-3 Table A.8).
VALIDATE_NOT_READY, VALIDATE_READY, VALIDATE_SUCCESS, VALIDATE_FAILURE = 0, 1, 2, 3
VALIDATE_NOT_REQUIRED = 4
MATCH_REQ_MVF_LEN = 0x3E  # 62
MATCH_CNF_MVF_LEN = 0x56  # 86


Spec = tuple[tuple[str, int | str], ...]


@dataclass(frozen=True)
class Message:
    MMTYPE: ClassVar[int]
    FIELDS: ClassVar[Spec] = ()

    def pack_payload(self) -> bytes:
        return _pack_fields(self, self.FIELDS)

    @classmethod
    def unpack(cls, r: Reader) -> Self:
        values = _read_fields(r, cls.FIELDS)
        names = {fl.name for fl in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})



def _pack_fields(obj: object, spec: Spec) -> bytes:
    out = bytearray()
    for name, kind in spec:
        value = getattr(obj, name)
        if kind == "B":
            out.append(int(value) & 0xFF)
        elif kind == "H":
            out += int(value).to_bytes(2, "little")
        else:
            if len(value) != kind:
                raise ValueError(f"{type(obj).__name__}.{name}: {kind} bytes expected")
            out += value
    return bytes(out)


def _read_fields(r: Reader, spec: Spec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, kind in spec:
        out[name] = r.u8() if kind == "B" else r.u16le() if kind == "H" else r.take(int(kind))
    return out


@dataclass(frozen=True)
class SetKeyReq(Message):
    MMTYPE = f.CM_SET_KEY | f.REQ
    FIELDS = (("key_type", "B"), ("my_nonce", 4), ("your_nonce", 4), ("pid", "B"),
              ("prn", "H"), ("pmn", "B"), ("cco_cap", "B"), ("nid", NID_LEN),
              ("new_eks", "B"), ("new_key", NMK_LEN))
    nid: bytes
    new_key: bytes
    my_nonce: bytes = b"\x00" * 4
    your_nonce: bytes = b"\x00" * 4
    key_type: int = KEY_TYPE_NMK
    pid: int = PID_HLE
    prn: int = 0
    pmn: int = 0
    cco_cap: int = 0
    new_eks: int = NEW_EKS


@dataclass(frozen=True)
class SetKeyCnf(Message):
    MMTYPE = f.CM_SET_KEY | f.CNF
    FIELDS = (("result", "B"), ("my_nonce", 4), ("your_nonce", 4), ("pid", "B"),
              ("prn", "H"), ("pmn", "B"), ("cco_cap", "B"))
    result: int
    my_nonce: bytes = b"\x00" * 4
    your_nonce: bytes = b"\x00" * 4
    pid: int = PID_HLE
    prn: int = 0
    pmn: int = 0
    cco_cap: int = 0


@dataclass(frozen=True)
class SlacParmReq(Message):
    MMTYPE = f.CM_SLAC_PARM | f.REQ
    FIELDS = (("application_type", "B"), ("security_type", "B"), ("run_id", RUN_ID_LEN))
    run_id: bytes
    application_type: int = 0
    security_type: int = 0


@dataclass(frozen=True)
class SlacParmCnf(Message):
    MMTYPE = f.CM_SLAC_PARM | f.CNF
    FIELDS = (("msound_target", 6), ("num_sounds", "B"), ("time_out", "B"),
              ("resp_type", "B"), ("forwarding_sta", 6), ("application_type", "B"),
              ("security_type", "B"), ("run_id", RUN_ID_LEN))
    forwarding_sta: bytes
    run_id: bytes
    num_sounds: int
    time_out: int  # in units of 100 ms
    msound_target: bytes = f.BROADCAST
    resp_type: int = RESP_TYPE_OTHER_STATION
    application_type: int = 0
    security_type: int = 0


@dataclass(frozen=True)
class StartAttenCharInd(Message):
    MMTYPE = f.CM_START_ATTEN_CHAR | f.IND
    FIELDS = (("application_type", "B"), ("security_type", "B"), ("num_sounds", "B"),
              ("time_out", "B"), ("resp_type", "B"), ("forwarding_sta", 6),
              ("run_id", RUN_ID_LEN))
    num_sounds: int
    time_out: int
    forwarding_sta: bytes
    run_id: bytes
    resp_type: int = RESP_TYPE_OTHER_STATION
    application_type: int = 0
    security_type: int = 0


@dataclass(frozen=True)
class MnbcSoundInd(Message):
    MMTYPE = f.CM_MNBC_SOUND | f.IND
    FIELDS = (("application_type", "B"), ("security_type", "B"), ("sender_id", ID_LEN),
              ("cnt", "B"), ("run_id", RUN_ID_LEN), ("rsvd", 8), ("rnd", 16))
    cnt: int  # sounds still to come after this one
    run_id: bytes
    sender_id: bytes = b"\x00" * ID_LEN
    rnd: bytes = b"\x00" * 16
    rsvd: bytes = b"\x00" * 8
    application_type: int = 0
    security_type: int = 0

    @classmethod
    def unpack(cls, r: Reader) -> Self:
        # open-plc-utils' pev sends its sounds as 60-byte frames, cutting RSVD and Rnd
        # short; nobody reads those on receipt, so a sound is whole once RunID is in.
        values = _read_fields(r, cls.FIELDS[:5])
        rest = r.take(min(24, r.remaining()))
        rest += bytes(24 - len(rest))
        return cls(rsvd=rest[:8], rnd=rest[8:], **values)


def _num_groups(r: Reader, what: str) -> int:
    n = r.u8()
    if not 1 <= n <= AAG_GROUPS:
        raise FrameError(f"{what}: NumGroups {n} outside 1..{AAG_GROUPS}")
    return n


@dataclass(frozen=True)
class AttenProfileInd(Message):
    MMTYPE = f.CM_ATTEN_PROFILE | f.IND
    pev_mac: bytes
    aag: bytes  # attenuation per group, dB

    def pack_payload(self) -> bytes:
        if not 1 <= len(self.aag) <= AAG_GROUPS or len(self.pev_mac) != 6:
            raise ValueError("AttenProfileInd: 1..58 groups and a 6-byte MAC")
        return self.pev_mac + bytes([len(self.aag), 0]) + self.aag

    @classmethod
    def unpack(cls, r: Reader) -> Self:
        mac = r.take(6)
        n = _num_groups(r, "CM_ATTEN_PROFILE.IND")
        r.take(1)  # RSVD
        return cls(pev_mac=mac, aag=r.take(n))


@dataclass(frozen=True)
class AttenCharInd(Message):
    MMTYPE = f.CM_ATTEN_CHAR | f.IND
    HEAD: ClassVar[Spec] = (
        ("application_type", "B"), ("security_type", "B"), ("source_address", 6),
        ("run_id", RUN_ID_LEN), ("source_id", ID_LEN), ("resp_id", ID_LEN),
        ("num_sounds", "B"))
    source_address: bytes  # the EV's MAC
    run_id: bytes
    num_sounds: int
    aag: bytes
    source_id: bytes = b"\x00" * ID_LEN
    resp_id: bytes = b"\x00" * ID_LEN
    application_type: int = 0
    security_type: int = 0

    def pack_payload(self) -> bytes:
        if not 1 <= len(self.aag) <= AAG_GROUPS:
            raise ValueError("AttenCharInd: 1..58 groups")
        head = _pack_fields(self, self.HEAD)
        return head + bytes([len(self.aag)]) + self.aag

    @classmethod
    def unpack(cls, r: Reader) -> Self:
        values = _read_fields(r, cls.HEAD)
        n = _num_groups(r, "CM_ATTEN_CHAR.IND")
        return cls(aag=r.take(n), **values)


@dataclass(frozen=True)
class AttenCharRsp(Message):
    MMTYPE = f.CM_ATTEN_CHAR | f.RSP
    FIELDS = (("application_type", "B"), ("security_type", "B"), ("source_address", 6),
              ("run_id", RUN_ID_LEN), ("source_id", ID_LEN), ("resp_id", ID_LEN),
              ("result", "B"))
    source_address: bytes
    run_id: bytes
    result: int = 0  # 0 = success
    source_id: bytes = b"\x00" * ID_LEN
    resp_id: bytes = b"\x00" * ID_LEN
    application_type: int = 0
    security_type: int = 0


@dataclass(frozen=True)
class ValidateReq(Message):
    MMTYPE = f.CM_VALIDATE | f.REQ
    FIELDS = (("signal_type", "B"), ("timer", "B"), ("result", "B"))
    signal_type: int = 0
    timer: int = 0
    result: int = VALIDATE_READY


@dataclass(frozen=True)
class ValidateCnf(Message):
    MMTYPE = f.CM_VALIDATE | f.CNF
    FIELDS = (("signal_type", "B"), ("toggle_num", "B"), ("result", "B"))
    result: int
    signal_type: int = 0
    toggle_num: int = 0


_MATCH_IDS: Spec = (
    ("pev_id", ID_LEN), ("pev_mac", 6), ("evse_id", ID_LEN), ("evse_mac", 6),
    ("run_id", RUN_ID_LEN), ("rsvd", 8))


@dataclass(frozen=True)
class SlacMatchReq(Message):
    MMTYPE = f.CM_SLAC_MATCH | f.REQ
    FIELDS = (("application_type", "B"), ("security_type", "B"), ("mvf_length", "H"),
              *_MATCH_IDS)
    pev_mac: bytes
    evse_mac: bytes
    run_id: bytes
    pev_id: bytes = b"\x00" * ID_LEN
    evse_id: bytes = b"\x00" * ID_LEN
    rsvd: bytes = b"\x00" * 8
    mvf_length: int = MATCH_REQ_MVF_LEN
    application_type: int = 0
    security_type: int = 0


@dataclass(frozen=True)
class SlacMatchCnf(Message):
    MMTYPE = f.CM_SLAC_MATCH | f.CNF
    FIELDS = (("application_type", "B"), ("security_type", "B"), ("mvf_length", "H"),
              *_MATCH_IDS, ("nid", NID_LEN), ("rsvd2", 1), ("nmk", NMK_LEN))
    pev_mac: bytes
    evse_mac: bytes
    run_id: bytes
    nid: bytes
    nmk: bytes
    pev_id: bytes = b"\x00" * ID_LEN
    evse_id: bytes = b"\x00" * ID_LEN
    rsvd: bytes = b"\x00" * 8
    rsvd2: bytes = b"\x00"
    mvf_length: int = MATCH_CNF_MVF_LEN
    application_type: int = 0
    security_type: int = 0


@dataclass(frozen=True)
class LinkStatusReq(Message):
    """Qualcomm VS_PL_LNK_STATUS.REQ: MMV 0, OUI, no payload."""

    MMTYPE = f.VS_PL_LNK_STATUS | f.REQ


@dataclass(frozen=True)
class LinkStatusCnf(Message):
    MMTYPE = f.VS_PL_LNK_STATUS | f.CNF
    FIELDS = (("mstatus", "B"), ("link_status", "B"))
    link_status: int  # 1 = the modem has a powerline link (an AVLN peer), 0 = none
    mstatus: int = 0


MESSAGES: dict[int, type[Message]] = {
    cls.MMTYPE: cls
    for cls in (SetKeyReq, SetKeyCnf, SlacParmReq, SlacParmCnf, StartAttenCharInd,
                MnbcSoundInd, AttenProfileInd, AttenCharInd, AttenCharRsp, ValidateReq,
                ValidateCnf, SlacMatchReq, SlacMatchCnf, LinkStatusReq, LinkStatusCnf)
}


@dataclass(frozen=True)
class Decoded:
    header: Header
    message: Message


def encode(message: Message, dst: bytes, src: bytes) -> bytes:
    """A complete Ethernet frame (padded to the 60-byte minimum)."""
    return f.pad(f.pack_header(dst, src, message.MMTYPE) + message.pack_payload())


def decode_frame(frame: bytes) -> Decoded | None:
    """The message in `frame`; None if the frame is not ours; FrameError if malformed."""
    split = f.split_header(frame)
    if split is None:
        return None
    header, payload = split
    cls = MESSAGES.get(header.mmtype)
    if cls is None:
        return None
    if f.is_vendor(header.mmtype) and frame[f.ETH_HEADER_LEN + 3 : f.ETH_HEADER_LEN + 6] != (
        f.QCA_OUI
    ):
        return None
    name = cls.__name__
    message = cls.unpack(Reader(payload, name))
    mvf = getattr(message, "mvf_length", None)
    expected = {SlacMatchReq: MATCH_REQ_MVF_LEN, SlacMatchCnf: MATCH_CNF_MVF_LEN}.get(cls)
    if expected is not None and mvf != expected:
        raise FrameError(f"{name}: MVFLength {mvf}, expected {expected}")
    return Decoded(header, message)
