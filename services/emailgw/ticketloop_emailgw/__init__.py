"""ticketloop's email channel: a small gateway built only on the public HTTP API.

Mail in (SMTP, `inbound.py`) becomes `POST /v1/tickets` or `POST /v1/tickets/{id}/messages` on
intake with the gateway's channel key; intake's channel webhooks (`webhooks.py`) become mail out
through an SMTP relay (`outbound.py`). Threading is stateless (`threads.py`): every Message-ID the
gateway sends names its ticket, so the gateway keeps no database.
"""
