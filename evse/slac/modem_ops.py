"""Talking to our own modem: CM_SET_KEY with retries, and link-status polling (sans-IO)."""

from __future__ import annotations

import secrets

from evse.slac import messages as m
from evse.slac.events import Output, SendFrame
from evse.slac.timers import LINK_POLL_INTERVAL, MODEM_RESPONSE, MODEM_RETRIES


class KeySetter:
    """Sets NMK/NID on the local modem; confirmed, or failed after the retries."""

    def __init__(self, our_mac: bytes, modem_mac: bytes, nmk: bytes, nid: bytes) -> None:
        self.nmk = nmk
        self.nid = nid
        self._our_mac = our_mac
        self._modem_mac = modem_mac
        self._nonce = secrets.token_bytes(4)
        self._sent = 0
        self.deadline: float | None = None
        self.confirmed = False
        self.failed = False

    def start(self, now: float) -> list[Output]:
        self._sent = 0
        return self._send(now)

    def _send(self, now: float) -> list[Output]:
        self._sent += 1
        self.deadline = now + MODEM_RESPONSE
        req = m.SetKeyReq(nid=self.nid, new_key=self.nmk, my_nonce=self._nonce)
        return [SendFrame(m.encode(req, self._modem_mac, self._our_mac))]

    def on_confirm(self, cnf: m.SetKeyCnf) -> bool:
        """True when this confirmation completes the exchange."""
        if self.confirmed or self.failed or self.deadline is None:
            return False
        # Both 0 (HomePlug GP) and 1 (Qualcomm, HomePlug AV 1.0) mean success in the field.
        if cnf.result not in m.SET_KEY_OK_VALUES:
            return False
        self.confirmed = True
        self.deadline = None
        return True

    def tick(self, now: float) -> list[Output]:
        if self.deadline is None or now < self.deadline:
            return []
        if self._sent > MODEM_RETRIES:
            self.failed = True
            self.deadline = None
            return []
        return self._send(now)


class LinkPoller:
    """Asks the modem for its link status every LINK_POLL_INTERVAL."""

    def __init__(self, our_mac: bytes, modem_mac: bytes) -> None:
        self._frame = m.encode(m.LinkStatusReq(), modem_mac, our_mac)
        self.deadline: float | None = None

    def start(self, now: float) -> list[Output]:
        self.deadline = now + LINK_POLL_INTERVAL
        return [SendFrame(self._frame)]

    def stop(self) -> None:
        self.deadline = None

    def tick(self, now: float) -> list[Output]:
        if self.deadline is None or now < self.deadline:
            return []
        return self.start(now)
