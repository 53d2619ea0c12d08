"""Sealing personal text: round trip, bound to customer and field, tamper-evident, erasable."""

from __future__ import annotations

import pytest

from ticketloop_shared import sealing

KEY = sealing.new_key()


def test_a_sealed_value_opens_with_its_key_customer_and_field() -> None:
    blob = sealing.seal(KEY, "Zofia", customer_id="c1", field="name")
    assert b"Zofia" not in blob
    assert sealing.unseal(KEY, blob, customer_id="c1", field="name") == "Zofia"


@pytest.mark.parametrize(
    ("key", "customer_id", "field"),
    [(sealing.new_key(), "c1", "name"), (KEY, "c2", "name"), (KEY, "c1", "contact"), (None, "c1", "name")],
    # Named, not by the random key's bytes: every worker of a parallel run must collect the same ids.
    ids=["another-key", "another-customer", "another-field", "no-key"],
)
def test_it_does_not_open_for_another_key_customer_or_field(key: bytes | None, customer_id: str, field: str) -> None:
    blob = sealing.seal(KEY, "Zofia", customer_id="c1", field="name")
    assert sealing.unseal(key, blob, customer_id=customer_id, field=field) is None


def test_a_tampered_value_does_not_open() -> None:
    blob = bytearray(sealing.seal(KEY, "Zofia", customer_id="c1", field="name"))
    blob[-1] ^= 1
    assert sealing.unseal(KEY, bytes(blob), customer_id="c1", field="name") is None


def test_clear_and_erased_markers() -> None:
    assert sealing.unseal(None, sealing.clear("Ravi (Finance)"), customer_id="c", field="body") == "Ravi (Finance)"
    assert sealing.unseal(KEY, sealing.ERASED_VALUE, customer_id="c", field="body") is None
    assert sealing.unseal(KEY, None, customer_id="c", field="body") is None


def test_a_data_key_is_wrapped_by_the_master_key() -> None:
    master = sealing.master_key("install secret")
    wrapped = sealing.wrap(master, KEY, customer_id="c1")
    assert KEY not in wrapped and KEY.hex().encode() not in wrapped
    assert sealing.unwrap(master, wrapped, customer_id="c1") == KEY
    with pytest.raises(ValueError, match="master key"):
        sealing.unwrap(sealing.master_key("another"), wrapped, customer_id="c1")
