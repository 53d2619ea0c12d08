"""Ticket facts: one row per ticket, projected from the events of every service in any order."""
