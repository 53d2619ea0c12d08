"""The embedded stack: everything ticketloop needs, on one machine, with no Docker."""
