"""SLAC (ISO 15118-3): matching an EV to this EVSE's powerline modem.

Sans-IO cores (`evse_fsm`, `ev_fsm`) over one frame codec (`frames`, `messages`);
thin adapters (`link`, `runner`) and simulated modems (`modem_sim`) around them.
"""
