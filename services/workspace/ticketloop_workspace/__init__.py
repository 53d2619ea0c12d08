"""ticketloop workspace: the web application staff work tickets in, live."""
