"""Modbus RTU / TCP access shared by the meter and SunSpec drivers (pymodbus, async)."""
