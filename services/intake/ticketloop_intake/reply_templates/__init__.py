"""Canned replies: admin-managed reply templates with placeholders, rendered for one ticket."""
