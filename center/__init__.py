"""The county command center: alerts from the edges to operators, and their work-flow."""
