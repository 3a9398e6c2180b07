"""The energy manager: pure functions of the period in force, EMS input, EV limits,
hal's grid constraint and `now` -> one power request per EVSE (OCPP 2.1 section Q)."""
