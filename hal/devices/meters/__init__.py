"""Register-map-driven Modbus meters: a new meter is a new `*.toml` map here, not code."""
