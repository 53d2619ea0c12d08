"""retrospective's retention schedule (settings `TICKETLOOP_RETROSPECTIVE_RETAIN_*`, 0 = forever).

- `audit_entries`: audit log entries (care rule and rectification changes) are deleted
  `retain_audit_days` after they were written.

retrospective keeps no customer's text: its read models are ids and facts (scores, times,
segments), which the reports are made of; an erasure removes a customer's.
"""

from __future__ import annotations

from ticketloop_retrospective.db import audit
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_shared.retention import DataClass, audit_class

CLASSES: list[DataClass[RetrospectiveSettings]] = [
    audit_class(audit, days=lambda s: s.retain_audit_days, setting="TICKETLOOP_RETROSPECTIVE_RETAIN_AUDIT_DAYS"),
]
