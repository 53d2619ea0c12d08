"""Staff bearer tokens: signature, expiry, revocation, and the per-install signing secret."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import MetaData

from ticketloop_shared.auth import (
    Role,
    check_department,
    department_scope,
    issue_token,
    staff_only,
    token_for,
    verify_token,
)
from ticketloop_shared.errors import Forbidden, Unauthorized
from ticketloop_shared.revocation import Revocations, revoked_tokens_table
from ticketloop_shared.settings import PlatformSettings, read_or_create_secret

SECRET = "s" * 40
DAY = 86_400


def verify(token: str, **kwargs: Any) -> Any:
    return verify_token(SECRET, token, max_ttl_seconds=90 * DAY, **kwargs)


def signed(claims: dict[str, Any], *, algorithm: str = "HS256", key: str = SECRET) -> str:
    """A token with the right secret but claims (or algorithm) `issue_token` would never write."""
    return jwt.encode(claims, key, algorithm=algorithm)


VALID = {"sub": "x", "role": "admin", "jti": "j", "iat": 2_000_000_000, "exp": 2_000_000_060}


def test_a_token_verifies_to_its_principal() -> None:
    principal = verify(
        issue_token(SECRET, sub="agent-7", role=Role.AGENT, name="Ana", department="finance", ttl_seconds=60)
    )
    assert (principal.sub, principal.role, principal.name) == ("agent-7", Role.AGENT, "Ana")
    assert principal.exp - principal.iat == 60 and len(principal.jti) == 32


def test_every_token_gets_its_own_id() -> None:
    one, two = (
        verify(issue_token(SECRET, sub="x", role=Role.AGENT, department="finance", ttl_seconds=60)) for _ in range(2)
    )
    assert one.jti != two.jti


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("garbage", "invalid_token"),
        ("tl1.a.b", "invalid_token"),
        (issue_token("another secret", sub="x", role=Role.ADMIN, ttl_seconds=60), "invalid_token"),
    ],
    # named, not shown: the forged token differs per worker, and xdist needs the same ids everywhere
    ids=["garbage", "not-a-jwt", "signed-with-another-secret"],
)
def test_bad_tokens_are_refused_with_a_reason(token: str, code: str) -> None:
    with pytest.raises(Unauthorized) as err:
        verify(token)
    assert err.value.code == code


def test_a_token_is_a_standard_hs256_jwt() -> None:
    token = issue_token(SECRET, sub="agent-7", role=Role.AGENT, name="Ana", department="finance", ttl_seconds=60)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert set(claims) == {"sub", "role", "name", "department", "jti", "iat", "exp"}
    assert (claims["sub"], claims["role"], claims["department"]) == ("agent-7", "agent", "finance")


def test_only_hs256_is_accepted_whatever_the_header_claims() -> None:
    assert verify(signed(VALID)).sub == "x"
    unsigned = jwt.encode(VALID, "", algorithm="none")
    for token in (
        unsigned,
        unsigned + "c2lnbmF0dXJl",
        signed(VALID, algorithm="HS512"),
        signed(VALID, algorithm="HS384"),
    ):
        with pytest.raises(Unauthorized, match="HS256") as refused:
            verify(token)
        assert refused.value.code == "invalid_token"


def test_a_tampered_role_breaks_the_signature() -> None:
    prefix, payload, sig = issue_token(SECRET, sub="x", role=Role.AGENT, department="finance", ttl_seconds=60).split(
        "."
    )
    forged = issue_token(SECRET, sub="x", role=Role.ADMIN, ttl_seconds=60).split(".")[1]
    with pytest.raises(Unauthorized):
        verify(f"{prefix}.{forged}.{sig}")


def test_an_expired_token_is_refused() -> None:
    token = issue_token(SECRET, sub="x", role=Role.AGENT, department="finance", ttl_seconds=60, now=1_000_000)
    verify(token, now=1_000_059)
    with pytest.raises(Unauthorized) as err:
        verify(token, now=1_000_061)
    assert err.value.code == "token_expired"


def test_a_signed_token_without_expiry_is_refused() -> None:
    """Tokens minted before expiry was mandatory must not live forever."""
    with pytest.raises(Unauthorized) as refused:
        verify(signed({"sub": "x", "role": "admin", "exp": None}))
    assert refused.value.code == "invalid_token"
    with pytest.raises(Unauthorized, match="no expiry"):
        verify(signed({"sub": "x", "role": "admin"}))


def test_a_token_claiming_more_than_the_longest_lifetime_is_refused() -> None:
    token = issue_token(SECRET, sub="x", role=Role.AGENT, department="finance", ttl_seconds=91 * DAY)
    with pytest.raises(Unauthorized, match="maximum"):
        verify(token)


def test_a_token_whose_subject_cannot_be_stored_is_refused_as_invalid() -> None:
    token = signed({"sub": "a" * 150, "role": "agent", "jti": "j", "iat": 1, "exp": 10**10})
    with pytest.raises(Unauthorized) as refused:
        verify(token)
    assert refused.value.code == "invalid_token"


def test_tokens_for_an_install_use_the_default_lifetime_and_respect_the_maximum() -> None:
    platform = PlatformSettings(auth_secret=SecretStr(SECRET), token_ttl_hours=2, token_max_ttl_days=1)
    principal = verify(token_for(platform, sub="x", role=Role.AGENT, department="finance"))
    assert principal.exp - principal.iat == 7200
    with pytest.raises(ValueError, match="at most"):
        token_for(platform, sub="x", role=Role.AGENT, department="finance", ttl_seconds=2 * DAY)


def _revocations(*rows: dict[str, Any]) -> Revocations:
    revocations = Revocations(revoked_tokens_table(MetaData()))
    revocations.load([SimpleNamespace(**{"jti": None, "sub": None, "issued_before": None, **r}) for r in rows])
    return revocations


def test_a_revoked_token_id_is_revoked_and_no_other() -> None:
    revoked = verify(issue_token(SECRET, sub="x", role=Role.AGENT, department="finance", ttl_seconds=60))
    other = verify(issue_token(SECRET, sub="x", role=Role.AGENT, department="finance", ttl_seconds=60))
    revocations = _revocations({"jti": revoked.jti})
    assert revocations.is_revoked(revoked) and not revocations.is_revoked(other)


def test_revoking_a_member_revokes_their_earlier_tokens_not_later_ones() -> None:
    cutoff = 1_000_000
    earlier = verify(
        issue_token(SECRET, sub="ana", role=Role.AGENT, department="finance", ttl_seconds=60, now=cutoff - 5),
        now=cutoff,
    )
    same_second = verify(
        issue_token(SECRET, sub="ana", role=Role.AGENT, department="finance", ttl_seconds=60, now=cutoff), now=cutoff
    )
    later = verify(
        issue_token(SECRET, sub="ana", role=Role.AGENT, department="finance", ttl_seconds=60, now=cutoff + 1),
        now=cutoff,
    )
    someone_else = verify(
        issue_token(SECRET, sub="bo", role=Role.AGENT, department="finance", ttl_seconds=60, now=cutoff), now=cutoff
    )
    revocations = _revocations({"sub": "ana", "issued_before": datetime.fromtimestamp(cutoff, UTC)})
    assert revocations.is_revoked(earlier) and revocations.is_revoked(same_second)
    assert not revocations.is_revoked(later) and not revocations.is_revoked(someone_else)


def test_the_development_secret_is_made_once_per_install_and_kept_private(tmp_path: Path) -> None:
    path = tmp_path / "data" / "auth-secret"
    first = read_or_create_secret(path)
    assert len(first) >= 32 and read_or_create_secret(path) == first
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert read_or_create_secret(tmp_path / "other" / "auth-secret") != first
    platform = PlatformSettings(auth_secret_file=path)
    assert platform.signing_secret == first


def test_production_needs_a_real_secret() -> None:
    with pytest.raises(ValidationError, match="TICKETLOOP_AUTH_SECRET"):
        PlatformSettings(env="production")
    with pytest.raises(ValidationError, match="TICKETLOOP_AUTH_SECRET"):
        PlatformSettings(env="production", auth_secret=SecretStr("short"))
    assert PlatformSettings(env="production", auth_secret=SecretStr("x" * 40)).signing_secret == "x" * 40


def test_an_agent_or_supervisor_token_carries_its_department_and_cannot_be_issued_without() -> None:
    supervisor = verify(issue_token(SECRET, sub="sue", role=Role.SUPERVISOR, department="finance", ttl_seconds=60))
    assert (supervisor.role, supervisor.department) == (Role.SUPERVISOR, "finance")
    admin = verify(issue_token(SECRET, sub="ada", role=Role.ADMIN, department="finance", ttl_seconds=60))
    assert admin.department is None  # an admin works across departments
    for role in (Role.AGENT, Role.SUPERVISOR):
        with pytest.raises(ValueError, match="department"):
            issue_token(SECRET, sub="x", role=role, ttl_seconds=60)


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_a_department_role_token_without_its_department_is_refused_as_staff(role: str) -> None:
    hand_made = verify(signed({**VALID, "role": role}))  # verifies: the signature is right
    with pytest.raises(Forbidden) as refused:
        staff_only(hand_made)
    assert refused.value.code == "department_required"
    assert staff_only(verify(signed({**VALID, "role": role, "department": "finance"}))).department == "finance"
    assert staff_only(verify(signed(VALID))).role is Role.ADMIN  # an admin needs none


def test_lists_are_limited_to_the_callers_department_and_asking_for_another_is_refused() -> None:
    agent = verify(signed({**VALID, "role": "agent", "department": "finance"}))
    admin = verify(signed(VALID))
    assert department_scope(agent) == department_scope(agent, "finance") == "finance"
    with pytest.raises(Forbidden) as refused:
        department_scope(agent, "technical")
    assert refused.value.code == "not_your_department"
    assert (department_scope(admin), department_scope(admin, "technical")) == (None, "technical")


@pytest.mark.parametrize(
    ("department", "code"), [("technical", "not_your_department"), (None, "ticket_not_routed"), ("finance", None)]
)
def test_a_record_is_readable_by_its_departments_staff_and_admins_only(
    department: str | None, code: str | None
) -> None:
    supervisor = verify(signed({**VALID, "role": "supervisor", "department": "finance"}))
    check_department(verify(signed(VALID)), department)  # an admin reads every one
    if code is None:
        check_department(supervisor, department)
        return
    with pytest.raises(Forbidden) as refused:
        check_department(supervisor, department)
    assert refused.value.code == code
