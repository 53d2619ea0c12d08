"""Reports: the weekly (later monthly) figures staff review, computed from the read models."""
