"""Deadlines known at acceptance: sla's policies and calendars, read from its publications."""
