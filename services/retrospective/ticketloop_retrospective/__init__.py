"""retrospective: projects every loop event into read models and reports on them."""
