"""Business calendars: when SLA clocks run (working hours, holidays, time zone) and their arithmetic."""
