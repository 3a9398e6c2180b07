"""Hardware abstraction: devices, local grid functions, the hal contract (owns the hardware)."""
