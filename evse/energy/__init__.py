"""Energy management: pure functions of charging profiles, EMS input, EV limits and now."""
