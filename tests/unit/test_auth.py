"""Staff bearer tokens."""

from __future__ import annotations

import json

import pytest

from ticketloop_shared.auth import TOKEN_PREFIX, Role, _b64, _sign, issue_token, verify_token
from ticketloop_shared.errors import Unauthorized

SECRET = "s" * 40


def test_a_token_verifies_to_its_principal() -> None:
    principal = verify_token(SECRET, issue_token(SECRET, sub="agent-7", role=Role.AGENT, name="Ana"))
    assert (principal.sub, principal.role, principal.name) == ("agent-7", Role.AGENT, "Ana")


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("garbage", "invalid_token"),
        ("tl1.a.b", "invalid_token"),
        (issue_token("another secret", sub="x", role=Role.ADMIN), "invalid_token"),
    ],
)
def test_bad_tokens_are_refused_with_a_reason(token: str, code: str) -> None:
    with pytest.raises(Unauthorized) as err:
        verify_token(SECRET, token)
    assert err.value.code == code


def test_a_tampered_role_breaks_the_signature() -> None:
    prefix, payload, sig = issue_token(SECRET, sub="x", role=Role.AGENT).split(".")
    forged = issue_token(SECRET, sub="x", role=Role.ADMIN).split(".")[1]
    with pytest.raises(Unauthorized):
        verify_token(SECRET, f"{prefix}.{forged}.{sig}")


def test_an_expired_token_is_refused() -> None:
    token = issue_token(SECRET, sub="x", role=Role.AGENT, ttl_seconds=60)
    verify_token(SECRET, token)
    with pytest.raises(Unauthorized) as err:
        verify_token(SECRET, token, now=10**12)
    assert err.value.code == "token_expired"


def test_a_token_whose_subject_cannot_be_stored_is_refused_as_invalid() -> None:
    payload = _b64(json.dumps({"sub": "a" * 150, "role": "agent"}).encode())
    token = f"{TOKEN_PREFIX}.{payload}.{_sign(SECRET, payload)}"  # signed, but by an older issuer
    with pytest.raises(Unauthorized) as refused:
        verify_token(SECRET, token)
    assert refused.value.code == "invalid_token"
