"""Station controller: OCPP, ISO 15118, SLAC, energy management (unprivileged process)."""
