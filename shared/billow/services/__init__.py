"""Use cases: load, decide with domain rules, save with the events that describe the change."""
