"""Tickets: acceptance, read-back, replies, resolution, and the timeline of each."""
