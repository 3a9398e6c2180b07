"""The SLAC frame codec against byte layouts written out from ISO 15118-3 Annex A and
HomePlug Green PHY 1.1 (field order; multi-octet integers little-endian; ids, MACs and
keys as sent). Each expected frame is built here field by field, not by the codec."""

from __future__ import annotations

import pytest

from evse.slac import frames as f
from evse.slac import messages as m
from evse.slac.frames import FrameError

EV = bytes.fromhex("020000000e01")
EVSE = bytes.fromhex("020000000a01")
RUN = bytes.fromhex("1122334455667788")
NMK = bytes(range(16))
NID = bytes.fromhex("01020304050607")
PEV_ID = bytes(range(100, 117))
EVSE_ID = bytes(range(200, 217))


def hdr(dst: bytes, src: bytes, mmtype_le: str) -> bytes:
    # Ethernet: dst, src, ethertype 0x88E1 big-endian; MME: MMV 1, MMTYPE LE, FMI 0, FMSN 0.
    return dst + src + b"\x88\xe1" + b"\x01" + bytes.fromhex(mmtype_le) + b"\x00\x00"


def padded(b: bytes) -> bytes:
    return b + bytes(max(0, 60 - len(b)))


def check(msg: m.Message, dst: bytes, src: bytes, expected: bytes) -> None:
    frame = m.encode(msg, dst, src)
    assert frame == padded(expected)
    decoded = m.decode_frame(frame)
    assert decoded is not None
    assert decoded.message == msg
    assert (decoded.header.dst, decoded.header.src) == (dst, src)


def test_cm_set_key_req_layout() -> None:
    # KeyType 1 (NMK), MyNonce, YourNonce, PID 4 (HLE), PRN u16 LE, PMN, CCo cap,
    # NID (7), NewEKS 1, NewKey (16).
    msg = m.SetKeyReq(nid=NID, new_key=NMK, my_nonce=b"\xaa\xbb\xcc\xdd", prn=0x0102)
    body = (b"\x01" + b"\xaa\xbb\xcc\xdd" + b"\x00" * 4 + b"\x04" + b"\x02\x01" + b"\x00"
            + b"\x00" + NID + b"\x01" + NMK)
    assert len(body) == 38
    check(msg, f.QCA_LOCAL_MAC, EVSE, hdr(f.QCA_LOCAL_MAC, EVSE, "0860") + body)


def test_cm_set_key_cnf_layout() -> None:
    msg = m.SetKeyCnf(result=1, my_nonce=b"\x01\x02\x03\x04")
    body = b"\x01" + b"\x01\x02\x03\x04" + b"\x00" * 4 + b"\x04" + b"\x00\x00" + b"\x00\x00"
    check(msg, EVSE, f.QCA_LOCAL_MAC, hdr(EVSE, f.QCA_LOCAL_MAC, "0960") + body)


def test_cm_slac_parm_req_layout() -> None:
    # APPLICATION_TYPE 0 (PEV-EVSE), SECURITY_TYPE 0, RunID (8).
    check(m.SlacParmReq(run_id=RUN), f.BROADCAST, EV,
          hdr(f.BROADCAST, EV, "6460") + b"\x00\x00" + RUN)


def test_cm_slac_parm_cnf_layout() -> None:
    # M-SOUND_TARGET, NUM_SOUNDS, Time_Out (x100 ms), RESP_TYPE, FORWARDING_STA,
    # APPLICATION_TYPE, SECURITY_TYPE, RunID.
    msg = m.SlacParmCnf(forwarding_sta=EV, run_id=RUN, num_sounds=10, time_out=6)
    body = b"\xff" * 6 + b"\x0a" + b"\x06" + b"\x01" + EV + b"\x00\x00" + RUN
    assert len(body) == 25
    check(msg, EV, EVSE, hdr(EV, EVSE, "6560") + body)


def test_cm_start_atten_char_ind_layout() -> None:
    msg = m.StartAttenCharInd(num_sounds=10, time_out=6, forwarding_sta=EV, run_id=RUN)
    body = b"\x00\x00" + b"\x0a\x06\x01" + EV + RUN
    check(msg, f.BROADCAST, EV, hdr(f.BROADCAST, EV, "6a60") + body)


def test_cm_mnbc_sound_ind_layout() -> None:
    # APP, SEC, SenderID (17), Cnt, RunID (8), RSVD (8), Rnd (16).
    rnd = bytes(range(16))
    msg = m.MnbcSoundInd(cnt=7, run_id=RUN, rnd=rnd)
    body = b"\x00\x00" + b"\x00" * 17 + b"\x07" + RUN + b"\x00" * 8 + rnd
    assert len(body) == 52
    check(msg, f.BROADCAST, EV, hdr(f.BROADCAST, EV, "7660") + body)


def test_cm_mnbc_sound_cut_short_after_run_id_is_accepted() -> None:
    # open-plc-utils' pev sends 60-byte sounds: RSVD and Rnd cut short (never read).
    frame = hdr(f.BROADCAST, EV, "7660") + b"\x00\x00" + b"\x00" * 17 + b"\x09" + RUN + bytes(13)
    assert len(frame) == 60
    decoded = m.decode_frame(frame)
    assert decoded is not None and decoded.message == m.MnbcSoundInd(cnt=9, run_id=RUN)
    with pytest.raises(FrameError):  # but the RunID itself must be there
        m.decode_frame(hdr(f.BROADCAST, EV, "7660") + b"\x00\x00" + bytes(17) + b"\x09" + RUN[:4])


def test_cm_atten_profile_ind_layout() -> None:
    # PEV MAC, NumGroups, RSVD, AAG[NumGroups].
    aag = bytes([20 + i % 5 for i in range(58)])
    msg = m.AttenProfileInd(pev_mac=EV, aag=aag)
    check(msg, EVSE, f.QCA_LOCAL_MAC,
          hdr(EVSE, f.QCA_LOCAL_MAC, "8660") + EV + b"\x3a\x00" + aag)


def test_cm_atten_char_ind_layout() -> None:
    # APP, SEC, SOURCE_ADDRESS, RunID, SOURCE_ID, RESP_ID, NUM_SOUNDS, NumGroups, AAG.
    aag = bytes([30] * 58)
    msg = m.AttenCharInd(source_address=EV, run_id=RUN, num_sounds=10, aag=aag)
    body = b"\x00\x00" + EV + RUN + b"\x00" * 17 + b"\x00" * 17 + b"\x0a" + b"\x3a" + aag
    assert len(body) == 110
    check(msg, EV, EVSE, hdr(EV, EVSE, "6e60") + body)


def test_cm_atten_char_rsp_layout() -> None:
    msg = m.AttenCharRsp(source_address=EV, run_id=RUN, result=0)
    body = b"\x00\x00" + EV + RUN + b"\x00" * 34 + b"\x00"
    assert len(body) == 51
    check(msg, EVSE, EV, hdr(EVSE, EV, "6f60") + body)


def test_cm_validate_req_and_cnf_layout() -> None:
    check(m.ValidateReq(signal_type=0, timer=0, result=1), EVSE, EV,
          hdr(EVSE, EV, "7860") + b"\x00\x00\x01")
    # Result 4: "not required" (ISO 15118-3 Table A.8).
    check(m.ValidateCnf(result=m.VALIDATE_NOT_REQUIRED), EV, EVSE,
          hdr(EV, EVSE, "7960") + b"\x00\x00\x04")


def test_cm_slac_match_req_layout() -> None:
    # APP, SEC, MVFLength 0x003E LE, PEV ID, PEV MAC, EVSE ID, EVSE MAC, RunID, RSVD.
    msg = m.SlacMatchReq(pev_mac=EV, evse_mac=EVSE, run_id=RUN, pev_id=PEV_ID,
                         evse_id=EVSE_ID)
    body = b"\x00\x00" + b"\x3e\x00" + PEV_ID + EV + EVSE_ID + EVSE + RUN + b"\x00" * 8
    assert len(body) == 66
    check(msg, EVSE, EV, hdr(EVSE, EV, "7c60") + body)


def test_cm_slac_match_cnf_layout() -> None:
    # ... MVFLength 0x0056 LE, the ids as in the REQ, RSVD (8), NID (7), RSVD (1), NMK (16).
    msg = m.SlacMatchCnf(pev_mac=EV, evse_mac=EVSE, run_id=RUN, nid=NID, nmk=NMK)
    body = (b"\x00\x00" + b"\x56\x00" + b"\x00" * 17 + EV + b"\x00" * 17 + EVSE + RUN
            + b"\x00" * 8 + NID + b"\x00" + NMK)
    assert len(body) == 90
    check(msg, EV, EVSE, hdr(EV, EVSE, "7d60") + body)


def test_qualcomm_link_status_layout() -> None:
    # Vendor message: MMV 0, MMTYPE 0xA0B8 LE, OUI 00:B0:52, no fragmentation fields.
    frame = m.encode(m.LinkStatusReq(), f.QCA_LOCAL_MAC, EVSE)
    assert frame == padded(f.QCA_LOCAL_MAC + EVSE + b"\x88\xe1\x00\xb8\xa0\x00\xb0\x52")
    assert m.decode_frame(frame) is not None
    # CNF 0xA0B9: MSTATUS, LINK_STATUS (1 = link).
    cnf = EVSE + f.QCA_LOCAL_MAC + b"\x88\xe1\x00\xb9\xa0\x00\xb0\x52" + b"\x00\x01"
    decoded = m.decode_frame(padded(cnf))
    assert decoded is not None and decoded.message == m.LinkStatusCnf(link_status=1)


def test_foreign_frames_are_not_ours() -> None:
    ipv6 = EV + EVSE + b"\x86\xdd" + bytes(50)
    assert m.decode_frame(ipv6) is None
    unknown_mme = hdr(EV, EVSE, "6060") + bytes(40)  # CM_STA_IDENTIFY: not a SLAC message
    assert m.decode_frame(unknown_mme) is None
    other_vendor = EV + EVSE + b"\x88\xe1\x00\xb8\xa0\x00\x11\x22" + bytes(40)
    assert m.decode_frame(other_vendor) is None


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        EV + EVSE,  # shorter than an Ethernet header
        EV + EVSE + b"\x88\xe1\x01",  # truncated MME header
        hdr(EV, EVSE, "6460")[:-1],  # truncated fragmentation fields
        hdr(EV, EVSE, "6460") + b"\x00\x00" + RUN[:5],  # truncated RunID, no padding
        hdr(EV, EVSE, "6560") + bytes(10),  # SLAC_PARM.CNF cut short
        EV + EVSE + b"\x88\xe1\x00\x64\x60\x00\x00" + bytes(50),  # MMV 0 for a SLAC message
        EV + EVSE + b"\x88\xe1\x01\x64\x60\x21\x00" + bytes(50),  # fragmented
        hdr(EV, EVSE, "8660") + EV + b"\x00\x00" + bytes(40),  # zero groups
        hdr(EV, EVSE, "8660") + EV + b"\x3b\x00" + bytes(59),  # 59 groups
        hdr(EVSE, EV, "7c60") + b"\x00\x00\x3f\x00" + bytes(62),  # wrong MVFLength
        hdr(EV, EVSE, "8660") + EV + b"\x3a\x00" + bytes(10),  # groups cut short
    ],
)
def test_malformed_and_truncated_frames_raise_frame_error(frame: bytes) -> None:
    with pytest.raises(FrameError):
        m.decode_frame(frame)


def test_padding_after_the_message_is_ignored() -> None:
    frame = m.encode(m.ValidateCnf(result=4), EV, EVSE)
    assert len(frame) == 60
    decoded = m.decode_frame(frame + bytes(20))
    assert decoded is not None and decoded.message == m.ValidateCnf(result=4)
