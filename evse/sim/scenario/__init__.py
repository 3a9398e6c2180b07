"""Scenarios for `evse sim --scenario`: a timeline of grid, CSMS, EMS, car and process
events against the real station processes, with checks, a trace and a plot."""
