"""The station layer: connectors and sessions between hal's reports and the protocols."""
