"""How long retrospective keeps each class of its data, and the job that applies it."""
