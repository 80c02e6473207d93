"""The topic catalogue: every stream, its key and its partition count, in one place.

Topics are created explicitly with these counts before any service starts (an auto-created
topic gets the broker's default count, which breaks faust's co-partitioning checks).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    name: str
    key: str
    partitions: int
    description: str
    # How long records are kept (None: for good; the domain topics are the event store).
    retention_days: int | None = None


CITIZENS = Topic(
    "jobmatch.citizens",
    "citizen_id",
    3,
    "Competence cards, availability, consents and erasure requests of citizens.",
)
EMPLOYERS = Topic("jobmatch.employers", "cvr", 3, "Employers registered with the job centre.")
JOB_ORDERS = Topic(
    "jobmatch.job-orders",
    "job_order_id",
    3,
    "Job orders (jobordrer): posted, updated and closed.",
)
PLACEMENTS = Topic(
    "jobmatch.placements",
    "job_order_id",
    3,
    "Suggested matches and the review and placement lifecycle that follows them.",
)
REPORTS = Topic(
    "jobmatch.reports",
    "report_id",
    1,
    "Model evaluations and fairness reports, for administrators.",
)
AUDIT = Topic(
    "jobmatch.audit",
    "citizen_id",
    3,
    "Who read or changed a citizen's personal data, when, by which route and with what "
    "result (no personal content): the basis of a citizen's access request (GDPR art. 15).",
    # At least the 6 months the access log must cover, with a margin; then it expires.
    retention_days=400,
)
DEAD_LETTER = Topic(
    "jobmatch.dead-letter",
    "original key",
    1,
    "Records a consumer could not decode or apply, with the reason in the headers.",
)

CATALOGUE: tuple[Topic, ...] = (
    CITIZENS,
    EMPLOYERS,
    JOB_ORDERS,
    PLACEMENTS,
    REPORTS,
    AUDIT,
    DEAD_LETTER,
)
DOMAIN_TOPICS: tuple[Topic, ...] = (CITIZENS, EMPLOYERS, JOB_ORDERS, PLACEMENTS, REPORTS)
# What the profiles views are built from: the domain, and the audit trail (access logs).
VIEW_TOPICS: tuple[Topic, ...] = (*DOMAIN_TOPICS, AUDIT)
