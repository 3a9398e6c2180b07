"""Simulated HomePlug Green PHY modems on a simulated powerline segment (sans-IO).

A modem sits between its host (Ethernet) and the powerline. Toward its host it acts as a
Qualcomm modem: it consumes CM_SET_KEY.REQ and VS_PL_LNK_STATUS.REQ addressed to it (or to
00:B0:52:00:00:01) and answers them. Everything else goes onto the powerline: SLAC
messages (ethertype 0x88E1) reach every modem on the segment, as SLAC runs before the
stations share a network; other traffic (IP) reaches only modems with the same NID.
A modem that hears a CM_MNBC_SOUND.IND passes it up and adds a CM_ATTEN_PROFILE.IND
with the segment's attenuation between the two modems.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from evse.slac import frames as f
from evse.slac import messages as m
from evse.slac.frames import FrameError


@dataclass
class SimModem:
    mac: bytes
    set_key_result: int = m.SET_KEY_RESULT_QCA_OK
    nid: bytes | None = None
    nmk: bytes | None = None
    host_mac: bytes | None = None  # learnt from the frames the host sends
    segment: PlcSegment | None = None
    keys_set: int = 0

    def from_host(self, frame: bytes) -> list[tuple[SimModem, bytes]]:
        """A frame from our host: (modem, frame-for-that-modem's-host) deliveries."""
        if len(frame) >= f.ETH_HEADER_LEN:
            self.host_mac = frame[6:12]
        try:
            decoded = m.decode_frame(frame)
        except FrameError:
            decoded = None  # not ours to judge: a real modem forwards what it cannot parse
        if decoded is not None and decoded.header.dst in (self.mac, f.QCA_LOCAL_MAC):
            reply = self._local(decoded.message)
            if reply is None:
                return []
            return [(self, m.encode(reply, decoded.header.src, f.QCA_LOCAL_MAC))]
        if self.segment is None:
            return []
        return self.segment.transmit(self, frame)

    def _local(self, msg: m.Message) -> m.Message | None:
        if isinstance(msg, m.SetKeyReq):
            self.nid, self.nmk = msg.nid, msg.new_key
            self.keys_set += 1
            return m.SetKeyCnf(result=self.set_key_result, your_nonce=msg.my_nonce)
        if isinstance(msg, m.LinkStatusReq):
            return m.LinkStatusCnf(link_status=1 if self.linked() else 0)
        return None

    def linked(self) -> bool:
        return self.segment is not None and self.segment.has_peer(self)

    def from_plc(self, sender: SimModem, frame: bytes) -> list[bytes]:
        """A frame another modem put on the powerline: what our host gets."""
        out = [frame]
        try:
            decoded = m.decode_frame(frame)
        except FrameError:
            return out
        if decoded is not None and isinstance(decoded.message, m.MnbcSoundInd):
            assert self.segment is not None
            db = self.segment.attenuation(sender, self)
            profile = m.AttenProfileInd(pev_mac=decoded.header.src, aag=bytes([db]) * m.AAG_GROUPS)
            out.append(m.encode(profile, self.host_mac or f.BROADCAST, self.mac))
        return out


@dataclass
class PlcSegment:
    """One powerline segment; attenuation in dB between pairs of modems (default 20)."""

    default_attenuation: int = 20
    modems: list[SimModem] = field(default_factory=list)
    _attenuation: dict[frozenset[bytes], int] = field(default_factory=dict)

    def attach(self, modem: SimModem) -> SimModem:
        modem.segment = self
        self.modems.append(modem)
        return modem

    def set_attenuation(self, a: SimModem, b: SimModem, db: int) -> None:
        self._attenuation[frozenset((a.mac, b.mac))] = db

    def attenuation(self, a: SimModem, b: SimModem) -> int:
        return self._attenuation.get(frozenset((a.mac, b.mac)), self.default_attenuation)

    def has_peer(self, modem: SimModem) -> bool:
        return modem.nid is not None and any(
            o is not modem and o.nid == modem.nid and o.nmk == modem.nmk for o in self.modems
        )

    def transmit(self, sender: SimModem, frame: bytes) -> list[tuple[SimModem, bytes]]:
        slac = len(frame) >= f.ETH_HEADER_LEN and frame[12:14] == b"\x88\xe1"
        out: list[tuple[SimModem, bytes]] = []
        for modem in self.modems:
            if modem is sender:
                continue
            if not slac and (sender.nid is None or modem.nid != sender.nid):
                continue  # data traffic needs a shared logical network
            out += [(modem, fr) for fr in modem.from_plc(sender, frame)]
        return out
