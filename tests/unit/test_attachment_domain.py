"""Attached files' rules: the type from the content's magic bytes, file names, sizes and counts
checked before anything is decoded, and the name a download is offered under."""

from __future__ import annotations

import base64

import pytest

from ticketloop_intake.attachments.domain import (
    Incoming,
    Limits,
    check,
    clean_filename,
    content_disposition,
    sniff,
    stored_name,
)
from ticketloop_shared.errors import DomainError

LIMITS = Limits(max_bytes=100, max_count=2, max_total_bytes=150)


def incoming(name: str, content: bytes) -> Incoming:
    return Incoming(filename=name, content_base64=base64.b64encode(content).decode())


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
        (b"GIF87a\x01\x00", "image/gif"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),
        (b"<html><script>", None),
        (b"PK\x03\x04", None),
        (b"", None),
    ],
)
def test_the_type_is_decided_from_the_first_bytes(content: bytes, expected: str | None) -> None:
    assert sniff(content) == expected


@pytest.mark.parametrize(
    "name", ["", "  ", ".", "..", "a/b.png", "a\\b.png", "a\x00.png", "a\nb.png", "x\u202egnp.exe", "x" * 256]
)
def test_a_file_name_with_a_path_a_control_character_or_no_name_is_refused(name: str) -> None:
    with pytest.raises(DomainError) as refused:
        clean_filename(name)
    assert (refused.value.status_code, refused.value.code) == (422, "invalid_filename")


def test_a_file_name_is_trimmed_and_keeps_its_letters() -> None:
    assert clean_filename("  Zażółć gęślą.pdf ") == "Zażółć gęślą.pdf"


def test_a_name_that_does_not_fit_the_content_gets_the_types_extension() -> None:
    assert stored_name("photo.JPEG", "image/jpeg") == "photo.JPEG"
    assert stored_name("invoice.html", "application/pdf") == "invoice.html.pdf"
    assert stored_name("x" * 255, "image/png") == "x" * 251 + ".png"


def test_every_limit_answers_with_its_own_code() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 50
    cases = [
        ([incoming("a.png", png)] * 3, 422, "too_many_attachments"),
        ([incoming("a.png", png + b"\x00" * 60)], 413, "attachment_too_large"),
        ([incoming("a.png", png + b"\x00" * 40), incoming("b.png", png + b"\x00" * 40)], 413, "attachments_too_large"),
        ([Incoming(filename="a.png", content_base64="***")], 422, "invalid_base64"),
        ([Incoming(filename="a.png", content_base64="ąę")], 422, "invalid_base64"),
        ([incoming("a.png", b"plain text")], 415, "attachment_type_not_allowed"),
        ([incoming("a.png", b"")], 422, "empty_attachment"),
    ]
    for files, status, code in cases:
        with pytest.raises(DomainError) as refused:
            check(files, LIMITS)
        assert (refused.value.status_code, refused.value.code) == (status, code)


def test_checked_files_keep_their_order_content_and_type_and_base64_may_be_wrapped() -> None:
    png, pdf = b"\x89PNG\r\n\x1a\n" + b"\x01" * 20, b"%PDF-1.4 tiny"
    wrapped = base64.encodebytes(pdf).decode()  # MIME style, with line breaks
    checked = check([incoming("a.png", png), Incoming(filename="b.pdf", content_base64=wrapped)], LIMITS)
    assert [(c.filename, c.content_type, c.content, c.size) for c in checked] == [
        ("a.png", "image/png", png, len(png)),
        ("b.pdf", "application/pdf", pdf, len(pdf)),
    ]


def test_a_download_names_the_file_for_every_browser() -> None:
    assert content_disposition('rapport "été" 100%.pdf') == (
        "attachment; filename=\"rapport __t__ 100_.pdf\"; filename*=UTF-8''rapport%20%22%C3%A9t%C3%A9%22%20100%25.pdf"
    )
