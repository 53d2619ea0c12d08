"""SLA rules as pure code, shared by the two services that need the same answer: sla, which owns
and runs every clock, and intake, which tells the customer at acceptance the deadlines that apply.

Not a service (no process, no tables, no I/O) and not `shared/` (which holds plumbing and
contracts only, never a business rule): a library named for what it holds. `calendars` (business
time), `policies` (which policy applies, what it promises), `cycles` (the life of one clock
cycle), `opening` (the clocks a ticket starts at its report) and `published` (the policies and
calendars as sla publishes them on the deadlines topic, to and from these rules).
"""
