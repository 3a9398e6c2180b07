"""Fault switches for the simulated devices: tests and benches flip them at run time to
make a device time out, garble, corrupt CRCs, answer with an exception or vanish."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from pymodbus.constants import ExcCodes


@dataclass
class LineFaults:
    silent: bool = False  # the device vanished: read nothing, answer nothing
    corrupt_crc: int = 0  # corrupt the CRC of the next N outgoing frames
    garbage: bytes = b""  # sent once, before the next outgoing frame
    split: bool = False  # write frames in small pieces with short gaps
    delay_s: float = 0.0  # answer this late (a slow or overloaded device)
    exception_code: int = 0  # Modbus: answer every request with this exception code

    def clear(self) -> None:
        self.silent = False
        self.corrupt_crc = 0
        self.garbage = b""
        self.split = False
        self.delay_s = 0.0
        self.exception_code = 0

    async def modbus_prologue(self) -> ExcCodes | None:
        """What every simulated Modbus device does before it answers: be late if told,
        then answer with the injected exception code, if any."""
        if self.delay_s > 0.0:
            await asyncio.sleep(self.delay_s)
        return ExcCodes(self.exception_code) if self.exception_code else None
