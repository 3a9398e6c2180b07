"""The `plc` fixture (veth + namespaces + simulated modems) of the SLAC tests."""

from tests.integration.slac.slac_veth import plc

__all__ = ["plc"]
