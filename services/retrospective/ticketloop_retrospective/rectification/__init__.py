"""Rectification items: what the review asks departments to fix, from hot categories or by hand."""
