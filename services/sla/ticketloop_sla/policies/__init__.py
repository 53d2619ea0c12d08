"""SLA policies: which targets, calendars, pauses and escalation steps apply to a ticket."""
