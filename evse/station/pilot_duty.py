"""IEC 61851-1 Annex A (Table A.8): the PWM duty cycle that offers a current to the EV.

- 6 A to 51 A: duty % = I / 0.6 (6 A -> 10 %, 51 A -> 85 %)
- 51 A to 80 A: duty % = I / 2.5 + 64 (80 A -> 96 %)
- below 6 A: no current may be offered: X1 (no PWM, 100 % here), the EV stays in B
- above 80 A: capped at 80 A, the highest current the pilot can signal
"""

from __future__ import annotations

MIN_A = 6.0
MAX_A = 80.0
X1_PCT = 100.0  # no PWM: charging not offered (hal: 100 % = X1)
STATE_F_PCT = 0.0  # hal: 0 % = state F (-12 V)
DIGITAL_PCT = 5.0  # ISO 15118 (digital communication) required


def duty_for_current(amps: float) -> float:
    """The duty in percent that offers `amps` (IEC 61851-1 Annex A); X1 below 6 A."""
    if amps != amps or amps < MIN_A:  # NaN or too little: nothing offered
        return X1_PCT
    amps = min(amps, MAX_A)
    if amps <= 51.0:
        return round(amps / 0.6, 2)
    return round(amps / 2.5 + 64.0, 2)


def current_for_power(watts: float, voltage_v: float, phases: int) -> float:
    """The per-phase current of an AC charge at `watts` (the energy manager's request)."""
    if watts <= 0.0 or voltage_v <= 0.0 or phases <= 0:
        return 0.0
    return watts / (voltage_v * phases)
