"""The delivery worker: claim what is due, send it signed, record how it went.

Safe with several replicas: deliveries are leased with `FOR UPDATE SKIP LOCKED`, and only the
oldest pending delivery of each (endpoint, ticket) is ever due, so one is in flight per endpoint
and ticket and they arrive in order. Nothing is held in memory: a database outage makes a batch
fail (the loop retries), a process that dies mid-send leaves its lease to expire and the
delivery is sent again (at least once; the receiver deduplicates by `webhook-id`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Sequence
from datetime import datetime

import aiohttp
import httpx
from sqlalchemy.exc import DBAPIError

from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.unit import IntakeRuntime
from ticketloop_intake.webhooks import bookkeeping, fanout, survey_links
from ticketloop_intake.webhooks.bookkeeping import Outcome, Outgoing
from ticketloop_intake.webhooks.domain import ChannelEvent
from ticketloop_shared import webhooks as signing
from ticketloop_shared.clock import Clock
from ticketloop_shared.faults import is_transient
from ticketloop_shared.scheduler import Batch, Scheduler
from ticketloop_shared.state import ProcessState, Slot

SCHEDULE = Scheduler[IntakeSettings]()


def http_client(settings: IntakeSettings) -> aiohttp.ClientSession:
    """The client deliveries go out with: time limits, no redirects followed (per request), no
    proxy from the environment (a proxy would hide where the request really goes), no cookies
    kept from one receiver for the next.

    aiohttp rather than the httpx the services use elsewhere: sending the same signed POSTs to a
    local receiver, httpx 0.28 cost 1.85 ms of CPU per request against aiohttp's 0.11 ms
    (client and server in one process; httpcore's pool checks every idle connection's socket on
    every request), which capped the worker near 300 deliveries a second."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=settings.webhooks_concurrency, use_dns_cache=False),
        timeout=aiohttp.ClientTimeout(total=settings.webhooks_timeout_seconds),
        trust_env=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
    )


class _Client:
    """The process's delivery client, kept from batch to batch: a new client per batch built a
    TLS context (reading the CA bundle, ~20 ms) and opened every connection again each time
    (`make bench-webhooks`). Its pooled connections are closed when the runtime stops."""

    def __init__(self) -> None:
        self._client: aiohttp.ClientSession | None = None

    def get(self, settings: IntakeSettings) -> aiohttp.ClientSession:
        if self._client is None or self._client.closed:
            self._client = http_client(settings)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()


_CLIENT = Slot("webhook delivery client", _Client)


async def send(
    client: aiohttp.ClientSession,
    outgoing: Outgoing,
    settings: IntakeSettings,
    clock: Clock,
    feedback: httpx.AsyncClient | None = None,
    checked: Awaitable[signing.Checked] | None = None,
) -> Outcome:
    """One attempt: the address checked again after DNS resolution (`checked`: the batch's
    check of this URL, shared by its deliveries), the body signed with every valid secret, the
    answer's status and (truncated) body kept. A `survey.due` gets its link from feedback first
    (`survey_links.py`)."""
    at = clock.now()
    if outgoing.problem == "erased":
        return Outcome(outgoing.id, at, None, 0, erased=True)
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    if outgoing.problem is not None:
        return Outcome(outgoing.id, at, None, 0, error=outgoing.problem)
    body = outgoing.body
    survey = outgoing.event_type == ChannelEvent.SURVEY_DUE.value
    if survey:
        assert feedback is not None, "a survey.due is sent with a client to feedback"
        try:
            body = await survey_links.with_link(feedback, body)
        except survey_links.SurveyClosed:
            return Outcome(outgoing.id, at, None, took(), cancelled=True)
        except survey_links.LinkUnavailable as exc:
            return Outcome(outgoing.id, at, None, took(), error=f"survey link: {exc}")
    if len(body) > settings.webhooks_max_payload_bytes:
        return Outcome(outgoing.id, at, None, 0, error=f"payload of {len(body)} bytes is over the limit")
    limit = settings.webhooks_response_log_chars
    try:
        if checked is None:
            checked = signing.check_url(outgoing.url, allow_private=settings.webhooks_private_allowed)
        url, host, extensions = (await checked).pinned()
        headers = signing.headers(
            outgoing.secrets, msg_id=str(outgoing.id), timestamp=int(clock.now().timestamp()), body=body
        )
        async with client.post(
            url,
            data=body,
            headers={**headers, **host},
            allow_redirects=False,
            server_hostname=extensions.get("sni_hostname"),
        ) as response:
            seen = bytearray()
            while len(seen) <= limit * 4:
                chunk = await response.content.readany()
                if not chunk:
                    break
                seen += chunk
            answer = signing.truncate(seen.decode("utf-8", "replace"), limit)
            if survey and 200 <= response.status < 300:
                assert feedback is not None
                await survey_links.report_delivered(feedback, body)
            return Outcome(outgoing.id, at, response.status, took(), response=answer)
    except signing.AddressRefused as exc:
        return Outcome(outgoing.id, at, None, took(), error=f"refused: {exc}")
    except TimeoutError:
        return Outcome(outgoing.id, at, None, took(), error="timeout")
    except (aiohttp.ClientError, OSError) as exc:
        return Outcome(outgoing.id, at, None, took(), error=f"{type(exc).__name__}: {exc}")


async def send_all(
    outgoing: Sequence[Outgoing], settings: IntakeSettings, clock: Clock, state: ProcessState | None = None
) -> list[Outcome]:
    """Send a claimed batch, at most `webhooks_concurrency` at a time, on the process's client
    (`state`; without one, a client for this batch only)."""
    gate = asyncio.Semaphore(settings.webhooks_concurrency)
    surveys = any(item.event_type == ChannelEvent.SURVEY_DUE.value for item in outgoing)
    async with contextlib.AsyncExitStack() as stack:
        if state is not None:
            client = state[_CLIENT].get(settings)
        else:
            client = await stack.enter_async_context(http_client(settings))
        feedback = await stack.enter_async_context(survey_links.feedback_client(settings)) if surveys else None

        # Each URL is resolved and checked once per batch (a DNS lookup per delivery cost more
        # than the signing); every delivery of the batch to it goes to the address checked.
        checks: dict[str, asyncio.Future[signing.Checked]] = {}

        def check(url: str) -> asyncio.Future[signing.Checked]:
            if url not in checks:
                checks[url] = asyncio.ensure_future(
                    signing.check_url(url, allow_private=settings.webhooks_private_allowed)
                )
            return checks[url]

        async def one(item: Outgoing) -> Outcome:
            async with gate:
                return await send(client, item, settings, clock, feedback, check(item.url))

        try:
            return list(await asyncio.gather(*(one(item) for item in outgoing)))
        finally:
            for future in checks.values():
                if not future.done():
                    future.cancel()  # none of its deliveries needed it after all
                elif not future.cancelled():
                    future.exception()  # retrieved: a refused URL is reported per delivery


async def next_delivery(runtime: IntakeRuntime) -> datetime | None:
    """When the next pending delivery is due."""
    async with runtime.sessions() as session:
        return await bookkeeping.next_due(session)


@SCHEDULE.due(
    name="webhook-deliveries",
    next_due=next_delivery,
    max_idle=lambda s: s.webhooks_poll_seconds,
    idle_when_stuck=lambda s: s.webhooks_poll_seconds,
    enabled=lambda s: s.webhooks_worker_enabled,
    wake=fanout.DUE_NOW,
    notice=fanout.DUE_NOTICE,
    linger=lambda s: s.webhooks_linger_seconds,
)
async def deliver(runtime: IntakeRuntime) -> Batch:
    """Claim a batch (one transaction), send it, record the outcomes (another transaction)."""
    async with runtime.unit_of_work() as uow:
        outgoing = await bookkeeping.claim(uow)
    if not outgoing:
        return Batch(0, False)
    outcomes = await send_all(outgoing, runtime.settings, runtime.clock, runtime.state)
    await _record(runtime, outcomes)
    return Batch(len(outgoing), len(outgoing) >= runtime.settings.webhooks_batch)


async def _record(runtime: IntakeRuntime, outcomes: Sequence[Outcome], attempts: int = 5) -> None:
    """Record the batch's outcomes, again at once if PostgreSQL chose this transaction as a
    deadlock's victim (recording acknowledgements locks their tickets, which a consumer batch
    storing deadlines may hold in another order): given up, the sent deliveries would stay leased
    and go out a second time when the lease ends."""
    for attempt in range(1, attempts + 1):
        try:
            async with runtime.unit_of_work() as uow:
                await bookkeeping.record(uow, outcomes)
            return
        except DBAPIError as exc:
            if attempt == attempts or not is_transient(exc):
                raise
            await asyncio.sleep(0.05 * attempt)
