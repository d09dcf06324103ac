"""The run: take state machine, session database (SQLite), resume."""
