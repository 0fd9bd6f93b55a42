"""Integration tests: handlers, state machines and the local stack on the embedded emulator."""
