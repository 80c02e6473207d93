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
DEAD_LETTER = Topic(
    "jobmatch.dead-letter",
    "original key",
    1,
    "Records a consumer could not decode or apply, with the reason in the headers.",
)

CATALOGUE: tuple[Topic, ...] = (CITIZENS, EMPLOYERS, JOB_ORDERS, PLACEMENTS, REPORTS, DEAD_LETTER)
DOMAIN_TOPICS: tuple[Topic, ...] = (CITIZENS, EMPLOYERS, JOB_ORDERS, PLACEMENTS, REPORTS)
