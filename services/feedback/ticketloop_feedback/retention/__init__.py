"""How long feedback keeps each class of its data, and the job that applies it."""
