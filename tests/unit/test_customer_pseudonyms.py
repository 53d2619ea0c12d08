"""The pseudonymous customer id (`customers/domain.py`): stable, distinct, one way."""

from __future__ import annotations

import base64
import hashlib
import hmac

from ticketloop_intake.customers.domain import candidates, looks_pseudonymous, pseudonym

KEY, OTHER_KEY = b"k" * 32, b"o" * 32


def test_a_pseudonym_is_the_keyed_hmac_of_the_reference_in_lowercase_base32() -> None:
    mac = hmac.new(KEY, b"customer-reference\x1fjane.doe@example.com", hashlib.sha256).digest()
    expected = "cus_" + base64.b32encode(mac).decode().lower()[:26]
    assert pseudonym(KEY, "jane.doe@example.com") == expected
    assert looks_pseudonymous(expected) and len(expected) == 30


def test_the_same_reference_always_gets_the_same_pseudonym_and_different_ones_differ() -> None:
    references = [f"customer-{i}@example.com" for i in range(2000)] + ["+48 600 100 200", "Jane", "jane"]
    pseudonyms = {pseudonym(KEY, r) for r in references}
    assert len(pseudonyms) == len(references)
    assert pseudonym(KEY, "Jane") == pseudonym(KEY, "Jane")


def test_without_the_install_key_a_pseudonym_reveals_nothing_of_its_reference() -> None:
    shown = pseudonym(KEY, "jane.doe@example.com")
    # another install (or someone guessing references without the key) gets other values
    assert pseudonym(OTHER_KEY, "jane.doe@example.com") != shown
    assert "jane" not in shown and "example" not in shown
    # and an unkeyed hash of the reference is not it
    plain = base64.b32encode(hashlib.sha256(b"jane.doe@example.com").digest()).decode().lower()[:26]
    assert shown != "cus_" + plain


def test_staff_may_name_a_customer_by_either_id() -> None:
    shown = pseudonym(KEY, "jane.doe@example.com")
    assert candidates(KEY, "jane.doe@example.com") == (shown, "jane.doe@example.com")
    assert candidates(KEY, shown)[0] == shown
    assert not looks_pseudonymous("cus_ABC") and not looks_pseudonymous("jane.doe@example.com")
