"""The serial link to the EVSE MCU (docs/mcu-protocol.md): sans-IO framing and link core,
plus the pyserial adapter that implements the `Mcu` interface."""
