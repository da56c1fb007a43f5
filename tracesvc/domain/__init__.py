"""Pure domain: trace codes, the event model, validation. Standard library only."""
