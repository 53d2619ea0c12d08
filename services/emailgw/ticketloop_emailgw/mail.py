"""Reading a customer's mail: who sent it, what it is about, its text, and the ids it answers."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser

# intake's limits on `TicketCreate`: longer text is cut (and says so), never refused.
MAX_SUBJECT = 200
MAX_TEXT = 10_000
_TRUNCATED = "\n[…truncated by the email gateway]"
_ADDRESS = re.compile(r"^[^@\s<>\"]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z0-9-]{1,63}$")
# Control characters other than tab and newline (intake refuses them in stored text).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_QUOTE_INTRO = re.compile(r"^\s*(On .{1,300} wrote:|-{2,}\s*Original Message\s*-{2,})\s*$", re.IGNORECASE)


class MalformedMail(Exception):
    """A mail the gateway cannot turn into a ticket (no usable sender): refused, not retried."""


@dataclass(frozen=True)
class InboundMail:
    """A customer's mail, as the gateway uses it."""

    message_id: str | None
    sender: str
    sender_name: str
    subject: str
    text: str
    # In-Reply-To first, then References: the ids this mail answers.
    references: tuple[str, ...]


def parse_mail(raw: bytes, *, envelope_from: str | None = None) -> InboundMail:
    """The mail's sender (From, else the envelope's MAIL FROM), subject, text (the text/plain part,
    else the HTML part as text) and thread ids; MalformedMail when there is no sender to answer."""
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
    except Exception as exc:  # the parser is lenient; anything it still raises is a broken mail
        raise MalformedMail(f"unreadable message: {exc.__class__.__name__}") from None
    sender, name = _sender(message, envelope_from)
    subject = _clean(_header(message, "Subject")).replace("\n", " ").strip()
    text = _clean(_text_of(message)).strip()
    references = tuple(v for v in (_header(message, "In-Reply-To"), _header(message, "References")) if v)
    message_id = _header(message, "Message-ID").strip() or None
    return InboundMail(
        message_id=message_id,
        sender=sender,
        sender_name=name,
        subject=_cut(subject or "(no subject)", MAX_SUBJECT, "…"),
        text=text,
        references=references,
    )


def description_of(mail: InboundMail, *, reply: bool) -> str:
    """The text intake stores: a reply without the quoted history under it (the ticket has that
    already), never empty (the subject stands in), cut to intake's limit."""
    text = strip_quoted(mail.text) if reply else mail.text
    return _cut(text or mail.text or mail.subject, MAX_TEXT, _TRUNCATED)


def strip_quoted(text: str) -> str:
    """The new part of a reply: the trailing block of `>` lines and the "On … wrote:" line before it
    go; a reply that is all quote is kept whole."""
    lines = text.splitlines()
    end = len(lines)
    while end and (lines[end - 1].startswith(">") or not lines[end - 1].strip()):
        end -= 1
    if end and _QUOTE_INTRO.match(lines[end - 1]):
        end -= 1
    kept = "\n".join(lines[:end]).strip()
    return kept or text


def html_to_text(html: str) -> str:
    """Readable text of an HTML mail part: tags dropped, blocks on their own lines, scripts and
    styles left out, entities decoded."""
    parser = _TextOf()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


class _TextOf(HTMLParser):
    _BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "hr"})
    _SKIP = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def is_address(value: str) -> bool:
    """Whether `value` looks like a deliverable mail address (one `@`, a dotted domain)."""
    return bool(_ADDRESS.match(value))


def _sender(message: EmailMessage, envelope_from: str | None) -> tuple[str, str]:
    name, address = "", ""
    from_header = _header(message, "From")
    pairs = getaddresses([from_header]) if from_header else []
    if pairs:
        name, address = pairs[0]
    if not is_address(address) and envelope_from:
        address = parseaddr(envelope_from)[1]
    address = address.strip()
    if not is_address(address):
        raise MalformedMail("no sender address to answer (From and MAIL FROM are empty or invalid)")
    name = _clean(name).replace("\n", " ").strip() or address.partition("@")[0]
    return address, name[:200]


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except Exception:  # a header so broken the parser cannot even fold it
        return ""
    return "" if value is None else str(value)


def _text_of(message: EmailMessage) -> str:
    try:
        part = message.get_body(preferencelist=("plain", "html"))
    except Exception:
        part = None
    if part is None:
        if message.is_multipart():
            return ""
        part = message
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):  # unknown charset, broken encoding
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return ""
    return html_to_text(content) if part.get_content_subtype() == "html" else content


def _clean(text: str) -> str:
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _cut(text: str, limit: int, marker: str) -> str:
    return text if len(text) <= limit else text[: limit - len(marker)] + marker
