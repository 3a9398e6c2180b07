"""Local grid functions: pure state machines evaluated once per sample, `now` passed in."""
