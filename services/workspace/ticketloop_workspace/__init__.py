"""ticketloop workspace: where agents and supervisors work their tickets in a browser.

It keeps no business state: every page reads, and every button acts, through the other services'
public APIs with the signed-in person's own token, so each authorisation rule is enforced where it
lives."""
