"""Alert events and their delivery. Uses plain value types only."""
