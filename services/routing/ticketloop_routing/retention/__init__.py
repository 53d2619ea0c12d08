"""How long routing keeps each class of its data, and the job that applies it."""
