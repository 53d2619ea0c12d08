"""Surveys: one per resolved ticket, reached by a no-login link and answered once."""
