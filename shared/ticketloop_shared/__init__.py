"""Contracts and plumbing shared by the five ticketloop services; no business rules live here."""
