"""Customers as routing sees them: their segment (derived for now) and dedicated account managers."""
