"""Customers as routing sees them: their segment (as retrospective announces it) and dedicated account managers."""
