"""`python -m ticketloop_emailgw`: run the gateway; `python -m ticketloop_emailgw send`: send it a
test mail (what a customer's mail server would do)."""

from __future__ import annotations

import argparse
import logging
import smtplib
import sys
from email.message import EmailMessage
from email.utils import make_msgid

from ticketloop_emailgw.app import create_app
from ticketloop_emailgw.settings import EmailGatewaySettings
from ticketloop_shared import serving
from ticketloop_shared.logging import configure_logging, uvicorn_log_config
from ticketloop_shared.proxies import UVICORN_PROXY_HEADERS


def serve() -> None:
    """Serve until SIGTERM/Ctrl-C."""
    settings = EmailGatewaySettings()
    configure_logging("emailgw", level=settings.log_level, json_lines=settings.log_json)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO
    serving.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        proxy_headers=UVICORN_PROXY_HEADERS,  # no forwarded header is believed (nothing here needs one)
        log_config=uvicorn_log_config("emailgw", level=settings.log_level, json_lines=settings.log_json),
        access_log=False,
    )


def send(argv: list[str]) -> int:
    """Send one mail to the gateway's SMTP port, as a customer would."""
    settings = EmailGatewaySettings()
    parser = argparse.ArgumentParser(prog="python -m ticketloop_emailgw send", description=send.__doc__)
    parser.add_argument("--from", dest="sender", default="Jane Doe <jane@example.com>")
    parser.add_argument("--to", default=settings.from_address)
    parser.add_argument("--subject", default="[billing] Charged twice for order 1234")
    parser.add_argument("--body", default="My card was charged twice for order 1234. Please refund one.")
    parser.add_argument(
        "--in-reply-to", default=None, help="a Message-ID of the gateway's mail, to reply in its thread"
    )
    args = parser.parse_args(argv)
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = args.sender, args.to, args.subject
    message["Message-ID"] = make_msgid(domain="example.com")
    if args.in_reply_to:
        message["In-Reply-To"] = message["References"] = args.in_reply_to
    message.set_content(args.body)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
            smtp.send_message(message)
    except smtplib.SMTPResponseException as exc:
        print(f"refused: {exc.smtp_code} {exc.smtp_error!r}", file=sys.stderr)  # noqa: T201
        return 1
    except OSError as exc:
        print(f"no gateway at {settings.smtp_host}:{settings.smtp_port}: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    print(f"sent {message['Message-ID']} to {settings.smtp_host}:{settings.smtp_port}")  # noqa: T201
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["send"]:
        sys.exit(send(sys.argv[2:]))
    serve()
