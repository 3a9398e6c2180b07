"""Simulated hardware: a grid, a bidirectional power stage, a meter and an MCU.

The models here are plain state advanced by `advance(now)`; device adapters expose them
through the same interfaces (hal/devices/base.py) the real drivers implement.
"""
