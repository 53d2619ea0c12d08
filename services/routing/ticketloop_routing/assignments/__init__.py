"""Assignments: which department and agent own each ticket."""
