"""Care: a contact schedule per customer by segment (SPEC §5's cadences), anticipation rules
admins set, and the care tasks both make due (`care.task_due`, which intake turns into a
proactive ticket; its resolution records the contact)."""
