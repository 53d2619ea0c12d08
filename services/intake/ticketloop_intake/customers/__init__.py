"""Customers' personal data: sealed with a key per customer, masked where it leaves, erasable."""
