"""SLA clocks: started by any ticket event, stopped by replies and resolution, breached by the sweep."""
