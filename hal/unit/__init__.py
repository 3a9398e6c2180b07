"""One EVSE as hal drives it: the protection path (`loop.py`) and the device tasks
beside it (`stage_io.py`, `meter_io.py`, `mcu_aux.py`) that hand over their latest
values. See `loop.py` for why it is split this way."""

from hal.unit.loop import UnitLoop, UnitTimings

__all__ = ["UnitLoop", "UnitTimings"]
