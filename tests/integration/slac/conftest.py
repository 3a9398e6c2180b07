"""The `plc` fixture (veth + namespaces + simulated modems) lives in slac_veth.py."""

from slac_veth import plc

__all__ = ["plc"]
