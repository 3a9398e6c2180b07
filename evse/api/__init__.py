"""The station's local API over MQTT: status out for energy managers and dashboards,
external setpoints and limits in (OCPP 2.1 Q05 ExternalSetpoint, Q06 ExternalLimits).

Pure parts (topic map, status JSON, command parsing, expiry, outgoing queue) live in
their own files; `client.py` is the thin adapter on aiomqtt. The API lives inside evse
and never opens a connection of its own to hal: the controller hands it snapshots and
it hands the controller EMS inputs, without either awaiting the other."""
