"""The review as HTML pages for staff: server-rendered charts, drill-down and a token login."""
