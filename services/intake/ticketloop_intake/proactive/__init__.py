"""Proactive tickets: the loop opening a ticket itself, to win back a customer who gave a low
score (recovery) or for a care contact the review scheduled (care)."""
