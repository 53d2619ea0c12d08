"""The rules of attached files, as pure functions: which types are taken (decided from the
content's first bytes, never from the name or a declared type), how large and how many, what a
file name may be, and the name a download is offered under.

Five fixed signatures answer "is it one of the types we take?" exactly; a sniffing library
(`puremagic`, `filetype`) answers "what is it?" over hundreds of types, with confidences, and
would add a dependency for no stronger check."""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from ticketloop_shared.errors import ContentTooLarge, Unprocessable, UnsupportedMediaType

# The types taken, each with the extension a download of it ends with.
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "image/jpeg": (".jpg", ".jpeg"),
    "image/png": (".png",),
    "image/gif": (".gif",),
    "image/webp": (".webp",),
    "application/pdf": (".pdf",),
}
_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
)
MAX_FILENAME = 255
# Control, format (bidi overrides, zero-width), line/paragraph separators, lone surrogates: none
# belongs in a name shown to staff and offered to a browser.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_WHITESPACE = re.compile(rb"[ \t\r\n]+")


@dataclass(frozen=True)
class Limits:
    """How large one file may be, how many one message may carry and how large all of them."""

    max_bytes: int
    max_count: int
    max_total_bytes: int


@dataclass(frozen=True)
class Incoming:
    """A file as the client sent it: its name and its content in base64."""

    filename: str
    content_base64: str


@dataclass(frozen=True)
class Checked:
    """A file that passed every rule: the name it is stored and offered under, the type its
    content is, and the content itself."""

    filename: str
    content_type: str
    content: bytes

    @property
    def size(self) -> int:
        """The content's length in bytes."""
        return len(self.content)


def sniff(content: bytes) -> str | None:
    """The type of `content` if it is one we take (JPEG, PNG, GIF, WebP, PDF), from its magic
    bytes; None otherwise."""
    for prefix, content_type in _PREFIXES:
        if content.startswith(prefix):
            return content_type
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def clean_filename(name: str) -> str:
    """The name trimmed, or 422 `invalid_filename`: no path separator, no control or invisible
    formatting character, not empty, `.` or `..`, at most 255 characters."""
    clean = name.strip()
    problem = None
    if not clean or clean in {".", ".."}:
        problem = "a file name must not be empty, '.' or '..'"
    elif len(clean) > MAX_FILENAME:
        problem = f"a file name has at most {MAX_FILENAME} characters"
    elif "/" in clean or "\\" in clean:
        problem = "a file name must not contain a path separator"
    elif any(unicodedata.category(ch) in _FORBIDDEN_CATEGORIES for ch in clean):
        problem = "a file name must not contain control or invisible formatting characters"
    if problem is not None:
        raise Unprocessable(problem, code="invalid_filename", details={"filename": name[:MAX_FILENAME]})
    return clean


def stored_name(filename: str, content_type: str) -> str:
    """The name a file is offered under: as sent when its extension fits the content's type,
    else with the type's extension added ("report.html" holding a PNG is "report.html.png"), so
    a saved download never opens as something it is not."""
    allowed = EXTENSIONS[content_type]
    if filename.lower().endswith(allowed):
        return filename
    return filename[: MAX_FILENAME - len(allowed[0])] + allowed[0]


def _decoded_size(text: bytes) -> int:
    """The length `text` (base64, no whitespace) decodes to, without decoding it."""
    return len(text) * 3 // 4 - text[-2:].count(b"=")


def check(files: Sequence[Incoming], limits: Limits) -> list[Checked]:
    """Every file of one message checked, in order, or the first problem: 422
    `too_many_attachments`, `invalid_filename`, `invalid_base64`; 413 `attachment_too_large`
    (one file) or `attachments_too_large` (all of them); 415 `attachment_type_not_allowed`.
    Sizes are checked before anything is decoded."""
    if len(files) > limits.max_count:
        raise Unprocessable(
            f"a message carries at most {limits.max_count} attachments",
            code="too_many_attachments",
            details={"max_count": limits.max_count, "sent": len(files)},
        )
    names = [clean_filename(f.filename) for f in files]
    texts: list[bytes] = []
    total = 0
    for name, incoming in zip(names, files, strict=True):
        try:
            text = _WHITESPACE.sub(b"", incoming.content_base64.encode("ascii"))
        except UnicodeEncodeError:
            raise _invalid_base64(name) from None
        size = _decoded_size(text)
        if size > limits.max_bytes:
            raise ContentTooLarge(
                f"{name!r} is larger than {limits.max_bytes} bytes",
                code="attachment_too_large",
                details={"filename": name, "max_bytes": limits.max_bytes},
            )
        total += size
        texts.append(text)
    if total > limits.max_total_bytes:
        raise ContentTooLarge(
            f"the attachments together are larger than {limits.max_total_bytes} bytes",
            code="attachments_too_large",
            details={"max_total_bytes": limits.max_total_bytes},
        )
    checked = []
    for name, text in zip(names, texts, strict=True):
        try:
            content = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise _invalid_base64(name) from None
        if not content:
            raise Unprocessable(f"{name!r} is empty", code="empty_attachment", details={"filename": name})
        content_type = sniff(content)
        if content_type is None:
            raise UnsupportedMediaType(
                f"{name!r} is not a JPEG, PNG, GIF, WebP image or a PDF document",
                code="attachment_type_not_allowed",
                details={"filename": name, "allowed": sorted(EXTENSIONS)},
            )
        checked.append(Checked(filename=stored_name(name, content_type), content_type=content_type, content=content))
    return checked


def _invalid_base64(name: str) -> Unprocessable:
    return Unprocessable(
        f"the content of {name!r} is not valid base64", code="invalid_base64", details={"filename": name}
    )


def content_disposition(filename: str) -> str:
    """`attachment` with the name in RFC 6266 form: an ASCII fallback and the exact UTF-8 name."""
    fallback = "".join(ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\%' else "_" for ch in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
