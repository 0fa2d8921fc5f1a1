"""The small shared leaf: what the edge and the command center both need, and nothing of
either. It imports the standard library only."""
