"""Sealing personal text with AES-256-GCM (the `cryptography` package): the plumbing every
service that keeps a customer's own words uses (intake's tickets, feedback's survey answers), so
one customer's data is erased everywhere by destroying that service's copy of their key.

A sealed value is `0x01 | nonce (12) | ciphertext+tag`, bound by its associated data to one
customer and one field, so a value copied to another customer or column does not open. Two
other forms exist: `0x00 | UTF-8` for text that is not personal (a system note) or was stored
before sealing began, and `0x02` for a value erased in place.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SEALED, CLEAR, ERASED = 1, 0, 2
NONCE_BYTES = 12
KEY_BYTES = 32
ERASED_VALUE = bytes([ERASED])


def new_key() -> bytes:
    """A fresh random data key."""
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def master_key(secret: str, *, service: str = "intake") -> bytes:
    """The 32-byte key that wraps one service's data keys, from that service's configured secret
    (the service's name keeps two services given the same secret apart)."""
    return hashlib.sha256(f"ticketloop-{service}-master:{secret}".encode()).digest()


def _aad(customer_id: str, field: str) -> bytes:
    return f"{customer_id}\x1f{field}".encode()


def seal(key: bytes, text: str, *, customer_id: str, field: str) -> bytes:
    """Encrypt `text` for one customer's field."""
    return seal_bytes(key, text.encode(), customer_id=customer_id, field=field)


def seal_bytes(key: bytes, data: bytes, *, customer_id: str, field: str) -> bytes:
    """Encrypt binary `data` (an attached file) for one customer's field."""
    nonce = os.urandom(NONCE_BYTES)
    return bytes([SEALED]) + nonce + AESGCM(key).encrypt(nonce, data, _aad(customer_id, field))


def clear(text: str) -> bytes:
    """Store text that is not personal as it is (marked so it is never mistaken for a seal)."""
    return bytes([CLEAR]) + text.encode()


def unseal(key: bytes | None, blob: bytes | None, *, customer_id: str, field: str) -> str | None:
    """The text, or None when it cannot be read any more (erased, or its key destroyed)."""
    if blob is None or not blob:
        return None
    kind = blob[0]
    if kind == CLEAR:
        return blob[1:].decode()
    if kind != SEALED or key is None:
        return None
    try:
        return (
            AESGCM(key).decrypt(blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :], _aad(customer_id, field)).decode()
        )
    except InvalidTag:
        return None


def unseal_bytes(key: bytes | None, blob: bytes | None, *, customer_id: str, field: str) -> bytes | None:
    """The binary data, or None when it cannot be read any more (erased, or its key destroyed);
    binary data is always sealed, never stored clear."""
    if not blob or blob[0] != SEALED or key is None:
        return None
    try:
        return AESGCM(key).decrypt(blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :], _aad(customer_id, field))
    except InvalidTag:
        return None


def wrap(master: bytes, key: bytes, *, customer_id: str) -> bytes:
    """A data key encrypted under the master key, for storing."""
    return seal(master, key.hex(), customer_id=customer_id, field="data-key")


def unwrap(master: bytes, wrapped: bytes, *, customer_id: str) -> bytes:
    """The data key back; a wrong master key is an error, not an erasure."""
    hex_key = unseal(master, wrapped, customer_id=customer_id, field="data-key")
    if hex_key is None:
        raise ValueError(f"the data key of customer {customer_id!r} does not open with this master key")
    return bytes.fromhex(hex_key)
