"""The edge service: composition root (pipeline wiring, supervisor, CLI, HTTP)."""
