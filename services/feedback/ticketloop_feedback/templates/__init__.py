"""Survey templates: the questions each kind of survey asks, edited by admins, every version kept."""
