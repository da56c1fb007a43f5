"""Process-level helpers any layer may use (worker pools); the standard library only."""
