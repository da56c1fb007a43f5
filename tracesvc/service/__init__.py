"""Use cases as plain async classes: no gRPC, no HTTP (issue 15 moves ingestion and access here)."""
