"""Subcommands of the `evse` CLI, one module each."""
