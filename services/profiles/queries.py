"""Read models as the API returns them, assembled from the Redis views."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from schemas.citizens import DEFAULT_SHARED_FIELDS
from services.profiles.followups import open_follow_ups
from services.profiles.kpis import collect, monthly, months_between
from services.profiles.projections import keys
from services.profiles.projections.views import PROGRAMMES
from services.profiles.reads import Unresolved, Views, read
from services.projection.store import text


def _decode(raw: Mapping[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field, value in raw.items():
        try:
            out[text(field)] = orjson.loads(value)
        except orjson.JSONDecodeError:
            out[text(field)] = text(value)
    return out


def _ranked(raw: Mapping[Any, Any]) -> list[dict[str, Any]]:
    docs = [orjson.loads(v) for v in raw.values()]
    # Best first; ties by citizen id so every reader sees the same order.
    docs.sort(key=lambda d: (-d["score"], d["citizen_id"], d["job_order_id"]))
    for rank, doc in enumerate(docs, start=1):
        doc["rank"] = rank
    return docs


async def job_order(source: Views | Unresolved, job_order_id: str) -> dict[str, Any] | None:
    """The order with its reviews, placements and positions (its hash holds
    `municipality_code`: the caller checks its right to it on this)."""
    _, (raw, reviews, placements) = await read(
        source,
        [
            ("HGETALL", keys.job_order(job_order_id)),
            ("HGETALL", keys.order_reviews(job_order_id)),
            ("HGETALL", keys.order_placements(job_order_id)),
        ],
    )
    if not raw:
        return None
    doc = _decode(raw)
    doc["reviews"] = _latest(reviews, "citizen_id")
    doc["presented"] = [r for r in doc["reviews"] if "presented" in r["history"]]
    doc["placements"] = _placements(placements)
    positions = int(doc.get("order", {}).get("positions", 1))
    filled = sum(1 for p in doc["placements"] if p.get("placement_type"))
    doc["positions"] = {"total": positions, "filled": filled, "open": max(0, positions - filled)}
    return doc


# What decides whether a caller may see an object: whether it exists, and its tenant.
TENANCY = ("status", "municipality_code")


async def fields(v: Views, key: str, names: tuple[str, ...]) -> dict[str, Any]:
    """Some fields of a view (one read); empty when the view does not exist."""
    return _named(names, await v.hmget(key, list(names)))


def _named(names: Sequence[str], raw: Sequence[Any]) -> dict[str, Any]:
    """An HMGET's reply by field name, decoded; fields the view lacks left out."""
    return {n: orjson.loads(r) for n, r in zip(names, raw, strict=True) if r is not None}


# The statuses a suggestion list shows, and what each review fact makes of a suggestion:
# the furthest fact decides (a review goes one way: accepted, presented, interview, then
# hired or declined, then placed; or rejected), so the order facts were written in does not
# matter. A suggestion no review reached is `retracted` once matching withdrew it, else
# `pending`.
STATUSES = ("pending", "accepted", "rejected", "presented", "hired", "retracted")
_REVIEW_FACTS: dict[str, tuple[int, str]] = {
    "accepted": (1, "accepted"),
    "rejected": (1, "rejected"),
    "presented": (2, "presented"),
    "interview": (3, "presented"),
    "declined": (4, "rejected"),
    "hired": (4, "hired"),
    "placed": (5, "hired"),
}


@dataclass(frozen=True)
class SuggestionStatus:
    status: str
    # The furthest review fact as recorded (e.g. "interview", "declined"), if any.
    review: str | None = None
    # Why matching withdrew it, if it did (also when a review got further).
    retraction_reason: str | None = None

    def json_tail(self) -> bytes:
        """The fields as the end of a JSON object (`, "status": ...}`)."""
        return b', "status": %s, "review": %s, "retraction_reason": %s}' % (
            orjson.dumps(self.status),
            orjson.dumps(self.review),
            orjson.dumps(self.retraction_reason),
        )


def suggestion_status(suggestion_id: str | None, facts: Mapping[str, str]) -> SuggestionStatus:
    """The status of one suggestion from the facts about it (keys.order_suggestion_status,
    decoded): pure."""
    if suggestion_id is None:
        # Projected before the status facts existed: a rebuild of the views records them.
        return SuggestionStatus("pending")
    # "" once announced again after a retraction (see views._suggested): not retracted.
    retracted = facts.get(f"{suggestion_id}:retracted") or None
    best: tuple[int, str] | None = None
    review = None
    for fact, (rank, status) in _REVIEW_FACTS.items():
        if f"{suggestion_id}:{fact}" in facts and (best is None or rank > best[0]):
            best, review = (rank, status), fact
    if best is not None:
        return SuggestionStatus(best[1], review, retracted)
    return SuggestionStatus("retracted" if retracted else "pending", None, retracted)


def statuses_of(facts: Mapping[Any, Any], pairs: Iterable[str]) -> dict[str, SuggestionStatus]:
    """The status of the current suggestion of each pair (the other side's id: a citizen
    in an order's list, an order in a citizen's)."""
    decoded = {text(k): text(v) for k, v in facts.items()}
    return {p: suggestion_status(decoded.get(f"current:{p}"), decoded) for p in pairs}


@dataclass(frozen=True)
class SuggestionPage:
    order: dict[str, Any]  # the order's status and municipality
    total: int  # how many suggestions have one of the statuses asked for
    citizens: list[str]  # of the page, in its order
    page: list[bytes]  # stored JSON with rank and status added


async def job_order_suggestions(
    source: Views | Unresolved,
    job_order_id: str,
    limit: int,
    statuses: Collection[str] = ("pending",),
    admit: Callable[[dict[str, Any]], None] = lambda order: None,
) -> SuggestionPage:
    """The best `limit` suggestions with one of `statuses` as stored JSON with their rank
    (among those shown) and status added: ordered from the ranking's scores and the status
    facts alone, so no document is parsed (this is a hot path). `admit` sees the order's
    status and municipality (empty: no such order) before any suggestion is read, and
    raises to refuse."""
    v, (order, ranked, facts) = await read(
        source,
        [
            ("HMGET", keys.job_order(job_order_id), *TENANCY),
            ("ZRANGE", keys.order_ranking(job_order_id), 0, -1, "WITHSCORES"),
            ("HGETALL", keys.order_suggestion_status(job_order_id)),
        ],
    )
    fields = _named(TENANCY, order)
    admit(fields)
    scored = [(text(member), float(score)) for member, score in ranked]
    of = statuses_of(facts, (cid for cid, _ in scored))
    shown = [(cid, score) for cid, score in scored if of[cid].status in statuses]
    # Best first; ties by citizen id, as `_ranked` orders them.
    shown.sort(key=lambda pair: (-pair[1], pair[0]))
    ids = [cid for cid, _ in shown[:limit]]
    docs = await v.hmget(keys.order_suggestions(job_order_id), ids)
    found = [(c, d) for c, d in zip(ids, docs, strict=True) if d is not None]
    page = [
        doc[:-1] + b', "rank": %d' % rank + of[cid].json_tail()
        for rank, (cid, doc) in enumerate(found, start=1)
    ]
    return SuggestionPage(fields, len(shown), [c for c, _ in found], page)


async def citizen(source: Views | Unresolved, citizen_id: str) -> dict[str, Any] | None:
    """The citizen's card with its suggestions, consents, reviews and placements (the
    card's hash holds `municipality_code`: the caller checks its right to it on this)."""
    _, (raw, suggestions, consents, reviews, placements, facts) = await read(
        source,
        [
            ("HGETALL", keys.citizen(citizen_id)),
            ("HGETALL", keys.citizen_suggestions(citizen_id)),
            ("HGETALL", keys.citizen_consents(citizen_id)),
            ("HGETALL", keys.citizen_reviews(citizen_id)),
            ("HGETALL", keys.citizen_placements(citizen_id)),
            ("HGETALL", keys.citizen_suggestion_status(citizen_id)),
        ],
    )
    if not raw:
        return None
    doc = _decode(raw)
    doc.setdefault("available", True)
    doc["suggestions"] = _ranked(suggestions)
    of = statuses_of(facts, (s["job_order_id"] for s in doc["suggestions"]))
    for suggestion in doc["suggestions"]:
        st = of[suggestion["job_order_id"]]
        suggestion |= {
            "status": st.status,
            "review": st.review,
            "retraction_reason": st.retraction_reason,
        }
    doc["consents"] = sorted(_decode(consents).values(), key=lambda c: c["at"])
    doc["reviews"] = _latest(reviews, "job_order_id")
    doc["placements"] = _placements(placements)
    return doc


def _latest(raw: Mapping[Any, Any], other: str) -> list[dict[str, Any]]:
    """The latest review decision per counterpart, with the earlier ones as history."""
    by: dict[str, list[dict[str, Any]]] = {}
    for field, value in raw.items():
        who = text(field).rsplit(":", 1)[0]
        by.setdefault(who, []).append(orjson.loads(value))
    out = []
    for who, docs in sorted(by.items()):
        docs.sort(key=lambda d: d["at"])
        out.append({other: who, **docs[-1], "history": [d["status"] for d in docs]})
    return out


def _placements(raw: Mapping[Any, Any]) -> list[dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    # The start first: its document says "active", which must not overwrite an end that a
    # hash (in no particular order once its values are long) happened to return before it.
    items = sorted(raw.items(), key=lambda item: text(item[0]).partition(":")[2] != "started")
    for field, value in items:
        pid, _, kind = text(field).partition(":")
        doc = orjson.loads(value)
        entry = merged.setdefault(pid, {"placement_id": pid, "follow_ups": []})
        if kind == "started":
            entry.update({k: v for k, v in doc.items() if k not in ("at", "actor", "event_type")})
        elif kind == "ended":
            entry.update(status="ended", outcome=doc["outcome"], end_date=doc["end_date"])
        else:
            entry["follow_ups"].append(
                {"date": doc["date"], "status": doc["status"], "note": doc.get("note")}
            )
    for entry in merged.values():
        entry["follow_ups"].sort(key=lambda f: f["date"])
    return [merged[k] for k in sorted(merged)]


async def reports(v: Views, kind: str) -> list[dict[str, Any]]:
    docs = [orjson.loads(v) for v in (await v.hgetall(keys.reports(kind))).values()]
    return sorted(docs, key=lambda d: d["reported_at"], reverse=True)


async def timeline(v: Views, key: str, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
    """Newest first, one page (one round trip: a connection of the pool held once)."""
    total, raw = await v.page(key, offset, limit)
    return total, [orjson.loads(text(entry)) for entry in raw]


async def worklist(
    v: Views,
    municipality_code: str,
    programme: str | None,
    occupation_uri: str | None,
    postal_prefix: str | None,
    min_score: float,
    offset: int,
    limit: int,
) -> tuple[int, list[bytes]]:
    """Suggestions awaiting review in one municipality, newest day first and best first
    within a day: (how many match, one page of them as stored JSON)."""
    ranked = (
        keys.worklist_programme(municipality_code, programme)
        if programme
        else keys.worklist(municipality_code)
    )
    docs_key = keys.worklist_docs(municipality_code)
    if occupation_uri is None and postal_prefix is None and min_score <= 0:
        # The sorted set already holds the order: read one page only.
        total, ids = await v.page(ranked, offset, limit)
        return total, [doc for doc in await v.hmget(docs_key, ids) if doc is not None]
    # A filtered list: filtered in Redis, on the compact filter fields (see
    # keys.worklist_filters), so that only the count and one page of documents come back.
    return await v.filtered_worklist(
        ranked,
        keys.worklist_filters(municipality_code),
        docs_key,
        min_score=min_score,
        postal_prefix=postal_prefix,
        occupation_uri=occupation_uri,
        offset=offset,
        limit=limit,
    )


async def worklist_counts(v: Views, municipality_code: str) -> dict[str, Any]:
    """How many suggestions await review in the municipality, in all and per programme
    (with no programme, an entry counts in the total only): the sizes of the worklist's
    sorted sets, read in one MULTI, so that the numbers are of one moment."""
    async with v.redis.pipeline(transaction=True) as pipe:
        pipe.zcard(v.prefix + keys.worklist(municipality_code))
        for programme in PROGRAMMES:
            pipe.zcard(v.prefix + keys.worklist_programme(municipality_code, programme))
        total, *sizes = await pipe.execute()
    return {
        "total": int(total),
        "by_programme": {p: int(n) for p, n in zip(PROGRAMMES, sizes, strict=True)},
    }


async def follow_ups_due(
    v: Views, municipality_code: str, until: dt.date, today: dt.date
) -> list[dict[str, Any]]:
    """Active placements of the municipality with a follow-up due by `until`, soonest first."""
    placements = _placements(await v.hgetall(keys.follow_ups(municipality_code)))
    citizens = [p.get("citizen_id", "") for p in placements]
    erased = await v.hmget(keys.ERASED, citizens)
    out = []
    for placement, gone in zip(placements, erased, strict=True):
        if gone is not None:
            continue
        for due in open_follow_ups(placement, until):
            out.append(
                {
                    "placement_id": placement["placement_id"],
                    "citizen_id": placement.get("citizen_id"),
                    "job_order_id": placement.get("job_order_id"),
                    "placement_type": placement.get("placement_type"),
                    "start_date": placement.get("start_date"),
                    "end_date": placement.get("end_date"),
                    "due_date": due.date.isoformat(),
                    "reason": due.reason,
                    "overdue": due.date < today,
                    "last_follow_up": (placement["follow_ups"] or [None])[-1],
                }
            )
    out.sort(key=lambda d: (d["due_date"], d["placement_id"]))
    return out


_ORDERS_AT_ONCE = 16
# Orders per script call: an employer with thousands of orders does not hold Redis for long.
_SUMMARIES_AT_ONCE = 500


async def employer(
    v: Views, cvr: str, *, job_order_id: str | None = None, with_order: bool = True
) -> dict[str, Any] | None:
    """The employer and its own job orders, newest first: `job_order_id` only that one,
    `with_order` each with the order as posted (`order`).

    Each order comes from the employer's order summaries and, for what a close or a
    placement changes, from the order's own keys, in one script per 500 orders (250 orders:
    ~10-15 ms, where decoding every order's views took ~170-210 ms). An order missing from
    the summaries (views projected before they existed) is assembled from its views as
    before."""
    async with v.redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(v.prefix + keys.employer(cvr))
        pipe.hkeys(v.prefix + keys.employer_orders(cvr))
        raw, listed = await pipe.execute()
    registered = _decode(raw)
    ids = [text(oid) for oid in listed]
    if job_order_id is not None:
        ids = [oid for oid in ids if oid == job_order_id]
    orders: list[dict[str, Any]] = []
    unsummarised: list[str] = []
    for at in range(0, len(ids), _SUMMARIES_AT_ONCE):
        chunk = ids[at : at + _SUMMARIES_AT_ONCE]
        try:
            rows = await v.employer_orders(cvr, chunk, with_order)
        except orjson.JSONDecodeError:  # a value that is not JSON: read as it used to be
            unsummarised += chunk
            continue
        for oid, row in zip(chunk, rows, strict=True):
            summary, owner, status, updated_at, version, order, presented, filled = row
            if owner != cvr:  # no such order, or moved to another employer
                continue
            if not isinstance(summary, dict) or summary.get("version") != version:
                unsummarised.append(oid)  # projected before the summaries existed
                continue
            orders.append(
                _order_row(
                    oid,
                    title=summary.get("title"),
                    programme=summary.get("programme"),
                    status=status,
                    positions=int(summary.get("positions", 1)),
                    filled=filled,
                    presented=presented,
                    updated_at=updated_at,
                    version=version,
                    order=(order if order is not None else {}) if with_order else None,
                )
            )
    orders += await _assembled(v, cvr, unsummarised, with_order)
    # Asked for one order that is not (or no longer) the employer's, the employer is found
    # all the same if it has others.
    if (
        not registered
        and not orders
        and (job_order_id is None or not await employer_exists(v, cvr))
    ):
        return None
    orders.sort(key=lambda o: (o["updated_at"] or "", o["job_order_id"]), reverse=True)
    return {"cvr": cvr, "name": registered.get("name"), "job_orders": orders}


def _order_row(
    job_order_id: str,
    *,
    title: Any,
    programme: Any,
    status: Any,
    positions: int,
    filled: int,
    presented: int,
    updated_at: Any,
    version: Any,
    order: dict[str, Any] | None,
) -> dict[str, Any]:
    """One order of the employer's list; `order` None leaves the order as posted out."""
    row = {
        "job_order_id": job_order_id,
        "title": title,
        "programme": programme,
        "status": status,
        "positions": {"total": positions, "filled": filled, "open": max(0, positions - filled)},
        "presented_candidates": presented,
        "updated_at": updated_at,
        # The employer's own order as posted, and its version (If-Match of an edit).
        "version": version,
    }
    if order is not None:
        row["order"] = order
    return row


async def _assembled(v: Views, cvr: str, ids: list[str], with_order: bool) -> list[dict[str, Any]]:
    """The employer's rows of these orders assembled from the orders' whole views: what
    the list was before the summaries, and still is for orders projected before them."""
    docs: list[dict[str, Any] | None] = []
    # A few orders at a time: an employer with hundreds of orders is read in round trips
    # that overlap, without taking the whole connection pool.
    for at in range(0, len(ids), _ORDERS_AT_ONCE):
        chunk = ids[at : at + _ORDERS_AT_ONCE]
        docs += await asyncio.gather(*(job_order(v, oid) for oid in chunk))
    rows = []
    for job_order_id, doc in zip(ids, docs, strict=True):
        if doc is None or doc.get("employer_cvr") != cvr:  # moved to another employer
            continue
        order = doc.get("order", {})
        rows.append(
            _order_row(
                job_order_id,
                title=order.get("title"),
                programme=order.get("programme"),
                status=doc.get("status"),
                positions=doc["positions"]["total"],
                filled=doc["positions"]["filled"],
                presented=len(doc["presented"]),
                updated_at=doc.get("updated_at"),
                version=doc.get("version"),
                order=order if with_order else None,
            )
        )
    return rows


async def employer_exists(v: Views, cvr: str) -> bool:
    """Whether `employer` would find it, without assembling its orders."""
    if await v.exists(keys.employer(cvr)):
        return True
    for job_order_id in await v.hkeys(keys.employer_orders(cvr)):
        (owner,) = await v.hmget(keys.job_order(job_order_id), ["employer_cvr"])
        if owner is not None and orjson.loads(owner) == cvr:
            return True
    return False


async def employer_candidates(v: Views, cvr: str, job_order_id: str | None) -> list[dict[str, Any]]:
    """Only the candidates presented to this employer, each with only the card fields the
    citizen's consent for this employer shares (none once it is withdrawn)."""
    presented = [
        orjson.loads(doc) for doc in (await v.hgetall(keys.employer_candidates(cvr))).values()
    ]
    reviews_of: dict[str, dict[str, dict[str, Any]]] = {}
    out = []
    for doc in presented:
        if job_order_id is not None and doc["job_order_id"] != job_order_id:
            continue
        cid, oid = doc["citizen_id"], doc["job_order_id"]
        card = _decode(await v.hgetall(keys.citizen(cid))).get("card")
        consents = _decode(await v.hgetall(keys.citizen_consents(cid))).values()
        fields = shared_fields(consents, cvr)
        if oid not in reviews_of:  # one read per order, however many it presented
            latest = _latest(await v.hgetall(keys.order_reviews(oid)), "citizen_id")
            reviews_of[oid] = {r["citizen_id"]: r for r in latest}
        review = reviews_of[oid].get(cid, {})
        out.append(
            {
                "job_order_id": oid,
                "citizen_id": cid,
                "suggestion_id": doc.get("suggestion_id"),
                "presented_at": doc["at"],
                "status": review.get("status", "presented"),
                "consent": "given" if fields is not None and card else "withdrawn",
                "shared_fields": sorted(fields or []) if card else [],
                "profile": candidate_profile(card, fields) if card and fields else None,
            }
        )
    out.sort(key=lambda c: (c["presented_at"], c["citizen_id"]), reverse=True)
    return out


def shared_fields(consents: Iterable[dict[str, Any]], cvr: str) -> set[str] | None:
    """The fields the citizen's standing consents share with this employer; None: no consent."""
    out: set[str] | None = None
    for consent in consents:
        if consent.get("scope") == "all" or consent.get("employer_cvr") == cvr:
            named = consent.get("shared_fields")
            out = (out or set()) | set(named if named is not None else DEFAULT_SHARED_FIELDS)
    return out


def candidate_profile(card: dict[str, Any], fields: set[str]) -> dict[str, Any]:
    """The card as an employer may see it: never notes, programme status or birth year."""
    views: dict[str, Any] = {
        "skills": lambda: [s["label"] for s in card.get("skills", [])],
        "experience": lambda: [
            {"title": e["title"], "years": e["years"]} for e in card.get("experience", [])
        ],
        "danish": lambda: card.get("danish"),
        "education": lambda: card.get("education"),
        "driving_licences": lambda: card.get("driving_licences", []),
        "certificates": lambda: card.get("certificates", []),
        "availability": lambda: card.get("availability"),
        "job_wishes": lambda: [w["title"] for w in card.get("job_wishes", [])],
        "postal_code": lambda: card.get("location", {}).get("postal_code"),
    }
    return {name: views[name]() for name in sorted(fields) if name in views}


async def kpis(
    v: Views, municipality_code: str, first: str, last: str, today: dt.date
) -> list[dict[str, Any]]:
    posted = await v.zrange_withscores(keys.kpi_orders(municipality_code))
    facts = {
        text(k): text(val)
        for k, val in (await v.hgetall(keys.kpi_facts(municipality_code))).items()
    }
    return monthly(collect(posted, facts), months_between(first, last), today)
