"""Customers' keys: the per-customer data keys feedback seals survey texts with."""
