"""How long intake keeps each class of its data, and the job that applies it."""
