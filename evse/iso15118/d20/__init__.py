"""The ISO 15118-20 SECC session as pure state machines, one request handler per file.

Each handler module exposes

    REQUEST: str                      # the global element it handles, e.g. "SessionSetupReq"
    def handle(req, ctx: SessionContext, view: StationView, now: float) -> Outcome

`session.py` decodes a request, checks it is one the previous outcome allows
(`Outcome.next`), calls the handler and encodes its response. Handlers do no I/O and
never wait: what the station must do is returned as `Outcome.actions`; what the station
knows (authorization, power target, measurements) arrives in the `StationView` snapshot.
Shared types: `types.py`.
"""
