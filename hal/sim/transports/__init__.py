"""Simulated devices behind real transports: a simulated MCU on a pty, a simulated meter
and SunSpec inverter as pymodbus servers (loopback TCP, or RTU over a pty pair), all fed
by one `SimWorld`, so a simulation run exercises the drivers a board runs."""
