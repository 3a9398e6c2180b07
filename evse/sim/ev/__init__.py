"""Our EV (EVCC) for ISO 15118-20: a sans-IO state machine (`evcc.py`), the messages it
builds (`requests.py`), its battery (`battery.py`), its script (`config.py`), and the
adapters that give it a network: SDP (`sdp_client.py`) and TCP / TLS 1.3 (`client.py`).

Sign convention as in the SECC: + power into the car (charging), - out of it.
"""
