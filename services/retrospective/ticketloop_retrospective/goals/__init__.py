"""Headline goals (SPEC's last section and §5's segment goals): each measured against a baseline
period, not the period before, with its target and whether it is met."""
