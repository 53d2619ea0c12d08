"""Contact masking."""

from __future__ import annotations

import pytest

from ticketloop_shared.privacy import mask_contact


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("jane.doe@example.com", "j*******@example.com"),
        ("+86 138 0013 8000", "*************8000"),
        ("12345", "****5"),
        (None, None),
    ],
)
def test_contacts_are_masked(raw: str | None, masked: str | None) -> None:
    assert mask_contact(raw) == masked
