"""ISO 15118 for the charger side: EXI codec (`exi`), and later SDP, V2GTP, the -20 SECC."""
