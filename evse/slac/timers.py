"""ISO 15118-3 SLAC timers and counters (Table A.2 / A.3), in seconds and counts.

Where the standard gives a range the value chosen is named; a trusted open stack uses
the same values (TT_EVSE_SLAC_init 40 s, TT_match_sequence 400 ms, ...).
"""

from __future__ import annotations

TT_EVSE_SLAC_INIT = 40.0  # 20-50 s: pilot B (5 % duty) -> first CM_SLAC_PARM.REQ
TT_MATCH_SEQUENCE = 0.4  # between two messages of one matching sequence
TT_MATCH_RESPONSE = 0.2  # a request's answer (SLAC_PARM, ATTEN_CHAR, SLAC_MATCH)
TT_EVSE_MATCH_MNBC = 0.6  # EVSE: collecting sounds after CM_START_ATTEN_CHAR.IND
TT_EV_ATTEN_RESULTS = 1.2  # EV: waiting for CM_ATTEN_CHAR.IND after starting to sound
TT_EVSE_MATCH_SESSION = 10.0  # EVSE: ATTEN_CHAR.RSP -> SLAC_MATCH.REQ (or VALIDATE)
TT_MATCH_JOIN = 12.0  # SLAC_MATCH.CNF -> the EV has joined our logical network
TP_EV_BATCH_MSG_INTERVAL = 0.02  # 20-50 ms between the EV's START_ATTEN_CHAR / sounds
T_STEP_EF = 4.0  # pilot in E/F before a retry (the coordinator's, named here)
C_EV_MATCH_MNBC = 10  # sounds the EV sends
C_EV_MATCH_RETRY = 2  # retransmissions of a request that got no answer
C_EV_START_ATTEN_CHAR_INDS = 3  # the EV sends CM_START_ATTEN_CHAR.IND three times

# CM_VALIDATE (BCB toggles on the pilot; ISO 15118-3 Table 3, values as an open stack reads
# them: the standard's text is not in our reference folder).
TT_EVSE_VALD_TOGGLE = 3.5  # the longest window of a toggle sequence (1-3 BCB toggles)
TP_EV_VALD_STATE_DURATION = 0.3  # 200-400 ms: how long the EV holds C, then B, per toggle
C_EV_VALD_NB_TOGGLES = 3  # 1-3 BCB toggles per validation
VALD_TIMER_UNIT = 0.1  # CM_VALIDATE.REQ Timer: 0x00 = 100 ms, 0x01 = 200 ms, ...

# Not from the standard: how long we wait for our own modem (a local management
# message answers within milliseconds), and how often we read the link status.
MODEM_RESPONSE = 0.5
MODEM_RETRIES = 3
LINK_POLL_INTERVAL = 0.25
