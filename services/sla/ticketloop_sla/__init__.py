"""sla: runs the response-time clocks of every ticket and announces met and breached deadlines."""
