"""routing's retention schedule (settings `TICKETLOOP_ROUTING_RETAIN_*`, 0 = forever).

- `audit_entries`: audit log entries (organisation changes, token revocations) are deleted
  `retain_audit_days` after they were written.

routing keeps no customer's text: account managers and segments are ids and facts, kept while
they route (an erasure removes them).
"""

from __future__ import annotations

from ticketloop_routing.db import audit
from ticketloop_routing.settings import RoutingSettings
from ticketloop_shared.retention import DataClass, audit_class

CLASSES: list[DataClass[RoutingSettings]] = [
    audit_class(audit, days=lambda s: s.retain_audit_days, setting="TICKETLOOP_ROUTING_RETAIN_AUDIT_DAYS"),
]
