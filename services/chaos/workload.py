"""The load generator: consultants driving cases through the events API while others read.

Lanes of consultants (one asyncio task each) register cards, post orders, change cards,
orders, availability and consents, review the suggestions the profiles API shows them,
present candidates, record employers' decisions and start placements. Every aggregate
belongs to one lane, so no two commands on it race and the answer of each change can be
predicted from what the lane was told before (`CommandRecord.expect`): a refusal the log
does not explain, or a 202 it forbids, shows a write side that is not the log's. A command
without an answer (or with a 5xx) may or may not have landed: its aggregate is then
"uncertain" and not predicted any more, until `probe_write_side` re-establishes it from
the log. Query tasks read the views and the matching worker meanwhile.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import random
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.auth.principal import Role
from services.chaos.ledger import AckedEvent, CommandRecord, Ledger, QueryRecord
from services.chaos.reconcile import LogFacts
from services.demo import example_documents
from services.stack import Stack

MUNICIPALITY = "0751"  # Aarhus, where every example document lives
POSTAL_CODES = ("8000", "8200", "8210", "8220", "8230", "8240", "8250", "8260", "8270", "8300")
IGU_LAST_START = dt.date(2027, 12, 31)
TOKEN_MINUTES = 60


@dataclass
class Citizen:
    cid: str
    lane: int
    doc: dict[str, Any]
    version: int = 0  # 0: not registered (as far as the lane knows)
    certain: bool = True
    consents: list[str] = field(default_factory=list)
    available: bool = True
    next_consent: int = 1


@dataclass
class Order:
    oid: str
    lane: int
    doc: dict[str, Any]
    version: int = 0
    open: bool = True
    certain: bool = True
    filled: int = 0


@dataclass
class Suggestion:
    sid: str
    oid: str
    cid: str
    stage: str  # accepted, rejected, presented, interview, hired, declined, placed


class Tokens:
    """Bearer headers minted with the stack's issuer key, renewed before they expire."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self._cache: dict[tuple[str, str, str], tuple[float, dict[str, str]]] = {}

    def bearer(self, role: Role, subject: str, **claims: str) -> dict[str, str]:
        key = (role, subject, repr(sorted(claims.items())))
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is None or now - cached[0] > TOKEN_MINUTES * 30:
            token = self.stack.token(role, subject, minutes=TOKEN_MINUTES, **claims)
            cached = (now, {"Authorization": f"Bearer {token}"})
            self._cache[key] = cached
        return cached[1]

    def consultant(self, subject: str) -> dict[str, str]:
        return self.bearer("consultant", subject, municipality=MUNICIPALITY)

    def consultant_of(self, municipality: str, reader: int = 0) -> dict[str, str]:
        """One of several readers of the municipality (each caller is rate-limited)."""
        subject = f"chaos-reader-{municipality}-{reader}"
        return self.bearer("consultant", subject, municipality=municipality)

    def administrator(self) -> dict[str, str]:
        return self.bearer("administrator", "chaos-admin")

    def employer(self, cvr: str) -> dict[str, str]:
        return self.bearer("employer", f"chaos-employer-{cvr}", cvr=cvr)


def valid_cvr(rng: random.Random) -> str:
    """An 8-digit number passing the CVR modulus-11 check (weights 2,7,6,5,4,3,2,1)."""
    while True:
        digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(6)]
        check = -sum(d * w for d, w in zip(digits, (2, 7, 6, 5, 4, 3, 2), strict=True)) % 11
        if check < 10:
            return "".join(map(str, digits)) + str(check)


def run_tag(rng: random.Random) -> str:
    # Letters only: ids then hold short digit runs, far from a CPR-shaped one.
    return "".join(rng.choices(string.ascii_lowercase, k=5))


@dataclass
class LoadOptions:
    lanes: int = 6
    query_tasks: int = 2
    seed: int = 1
    request_timeout: float = 20.0
    backoff: float = 0.25  # after a refused connection, a 429 or a 503
    query_pause: float = 0.05


class Workload:
    def __init__(
        self, stack: Stack, ledger: Ledger, options: LoadOptions, clock: Callable[[], float]
    ) -> None:
        self.stack = stack
        self.ledger = ledger
        self.options = options
        self.clock = clock
        self.rng = random.Random(options.seed)
        self.tag = run_tag(self.rng)
        self.tokens = Tokens(stack)
        self.cards, self.order_templates = example_documents()
        self.citizens: dict[str, Citizen] = {}
        self.orders: dict[str, Order] = {}
        self._lane_citizens: dict[int, list[Citizen]] = {n: [] for n in range(options.lanes)}
        self._lane_orders: dict[int, list[Order]] = {n: [] for n in range(options.lanes)}
        self.errors: list[str] = []  # the harness's own failures (a lane goes on after one)
        self.suggestions: dict[str, Suggestion] = {}
        self.cvrs = {lane: [valid_cvr(self.rng) for _ in range(2)] for lane in range(options.lanes)}
        self.phase = "load"
        self.fault: str | None = None  # set by the fault injector while it works
        self._counter = 0
        self._progress = asyncio.Event()  # set at each answered command
        self.last_answer = time.monotonic()
        self._refused: dict[int, int] = {}  # lane -> attempts without an answer in a row
        self.stall = 300.0  # a drive ends once the faults are through and nothing answers
        self._clients: dict[str, httpx.AsyncClient] = {}
        self.last_token: dict[str, str] = {}  # aggregate -> read token of its last 202

    # -- plumbing ----------------------------------------------------------------------------

    def client(self, service: str) -> httpx.AsyncClient:
        if service not in self._clients:
            limits = httpx.Limits(max_connections=self.options.lanes + self.options.query_tasks + 8)
            self._clients[service] = httpx.AsyncClient(
                base_url=self.stack.urls[service],
                timeout=self.options.request_timeout,
                limits=limits,
            )
        return self._clients[service]

    async def close(self) -> None:
        for c in self._clients.values():
            await c.aclose()
        self._clients.clear()

    @property
    def answered(self) -> int:
        """Commands decided so far: any answer but no answer, 429 and 503."""
        return self._counter

    def _headers(self, lane: int) -> dict[str, str]:
        return self.tokens.consultant(f"chaos-{self.tag}-l{lane}-k{self.rng.randrange(3)}")

    async def command(
        self,
        lane: int,
        name: str,
        aggregate: str,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        expect: set[int] | None = None,
        headers: dict[str, str] | None = None,
    ) -> CommandRecord:
        record = self.ledger.add(
            CommandRecord(
                seq=self.ledger.next_seq(),
                phase=self.phase,
                name=name,
                aggregate=aggregate,
                method=method,
                path=path,
                expect=frozenset(expect) if expect is not None else None,
                sent_at=self.clock(),
                fault=self.fault,
            )
        )
        started = time.monotonic()
        try:
            response = await self.client("events").request(
                method, path, json=body, headers={**self._headers(lane), **(headers or {})}
            )
        except httpx.HTTPError as exc:
            record.error = type(exc).__name__
            record.seconds = time.monotonic() - started
            await self._back_off(lane)
            return record
        record.seconds = time.monotonic() - started
        record.status = response.status_code
        if response.status_code in (429, 503):
            # Not decided: the service asks to come back later (Retry-After).
            record.detail = _detail(response)
            await self._back_off(lane, _retry_after(response, 0.0))
            return record
        self._refused[lane] = 0
        self._counter += 1  # decided: the schedule moves on
        self.last_answer = time.monotonic()
        self._progress.set()
        if response.status_code == 202:
            answer = response.json()
            record.events = tuple(
                AckedEvent(
                    event_id=str(e["event_id"]),
                    event_type=str(e["event_type"]),
                    topic=str(e["position"]["topic"]),
                    partition=int(e["position"]["partition"]),
                    offset=int(e["position"]["offset"]),
                )
                for e in answer.get("events", [])
            )
            if answer.get("read_token"):
                self.last_token[aggregate] = str(answer["read_token"])
        else:
            record.detail = _detail(response)
            if response.status_code >= 500:
                await self._back_off(lane)
        return record

    async def _back_off(self, lane: int, at_least: float = 0.0) -> None:
        """While a service is away or refuses for now: up to 2 s between a lane's tries."""
        self._refused[lane] = self._refused.get(lane, 0) + 1
        wait = min(2.0, self.options.backoff * 2 ** (self._refused[lane] - 1))
        await asyncio.sleep(max(wait, min(at_least, 5.0)))

    async def query(
        self, service: str, name: str, path: str, **params: Any
    ) -> httpx.Response | None:
        started = time.monotonic()
        try:
            response = await self.client(service).get(
                path,
                params=params or None,
                headers=self.tokens.consultant(f"chaos-{self.tag}-q{self.rng.randrange(4)}"),
            )
        except httpx.HTTPError as exc:
            self.ledger.queries.append(
                QueryRecord(name, None, time.monotonic() - started, self.fault, type(exc).__name__)
            )
            await asyncio.sleep(self.options.backoff)
            return None
        self.ledger.queries.append(
            QueryRecord(name, response.status_code, time.monotonic() - started, self.fault)
        )
        return response

    # -- documents ---------------------------------------------------------------------------

    def _card(self, cid: str) -> dict[str, Any]:
        card = copy.deepcopy(self.rng.choice(self.cards))
        card["citizen_id"] = cid
        card["municipality_code"] = MUNICIPALITY
        card["location"]["postal_code"] = self.rng.choice(POSTAL_CODES)
        card["availability"]["hours_per_week"] = self.rng.randint(20, 37)
        return card

    def _order(self, oid: str, cvr: str) -> dict[str, Any]:
        order = copy.deepcopy(self.rng.choice(self.order_templates))
        today = dt.datetime.now(dt.UTC).date()
        start = today + dt.timedelta(days=60)
        if order["programme"] == "IGU" and start > IGU_LAST_START:
            order["programme"] = "ordinary"
        order["job_order_id"] = oid
        order["municipality_code"] = MUNICIPALITY
        order["employer"]["cvr"] = cvr
        order["employer"]["name"] = f"Kaostest {cvr} ApS"
        order["positions"] = self.rng.randint(1, 3)
        order["worksite"]["postal_code"] = self.rng.choice(POSTAL_CODES)
        order["start_date"] = start.isoformat()
        order["application_deadline"] = (start - dt.timedelta(days=14)).isoformat()
        return order

    # -- the lanes ---------------------------------------------------------------------------

    async def drive(
        self, commands: int, done: asyncio.Event, abort: Callable[[], str | None] | None = None
    ) -> None:
        """Run the lanes and the readers until `commands` more commands were answered and
        `done` is set (by the fault injector, once its schedule is through); or until
        nothing answers any more, or `abort` says why the stack is gone."""
        goal = self._counter + commands

        def finished() -> bool:
            if abort is not None and abort():
                return True
            return done.is_set() and (self._counter >= goal or self.stalled(self.stall))

        tasks = [
            asyncio.create_task(self._lane(lane, finished)) for lane in range(self.options.lanes)
        ]
        tasks += [
            asyncio.create_task(self._reader(finished)) for _ in range(self.options.query_tasks)
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_answered(self, count: int, stall: float) -> bool:
        """Until `count` commands were answered; False if none was for `stall` seconds."""
        while self._counter < count:
            self._progress.clear()
            try:
                await asyncio.wait_for(self._progress.wait(), stall)
            except TimeoutError:
                return False
        return True

    def stalled(self, stall: float) -> bool:
        return time.monotonic() - self.last_answer > stall

    def _mine(self, lane: int) -> tuple[list[Citizen], list[Order]]:
        return (
            [c for c in self._lane_citizens[lane] if c.version],
            [o for o in self._lane_orders[lane] if o.version],
        )

    async def _lane(self, lane: int, finished: Callable[[], bool]) -> None:
        while not finished():
            citizens, orders = self._mine(lane)
            open_orders = [o for o in orders if o.open]
            weights = {
                self.register_card: 30 if len(citizens) < 8 else 12,
                self.post_order: 14 if len(open_orders) < 2 else (3 if len(open_orders) < 6 else 0),
                self.update_card: 8 if citizens else 0,
                self.change_availability: 6 if citizens else 0,
                self.give_consent: 4 if citizens else 0,
                self.withdraw_consent: 1 if citizens else 0,
                self.register_again: 2 if citizens else 0,
                self.post_again: 1 if orders else 0,
                self.update_order: 3 if orders else 0,
                self.close_order: 1 if open_orders else 0,
                self.review: 16 if open_orders else 0,
                self.advance: 12 if orders else 0,
            }
            actions = [a for a, w in weights.items() if w]
            action = self.rng.choices(actions, [weights[a] for a in actions])[0]
            try:
                await action(lane)
            except Exception as exc:  # a bug of the harness must not end the drill
                self.errors.append(f"{action.__name__}: {type(exc).__name__}: {exc}"[:300])
                await asyncio.sleep(self.options.backoff)

    # Each action: one command (and, for reviews, the query that finds the suggestion).

    async def register_card(self, lane: int) -> None:
        cid = f"cit-{self.tag}-l{lane}-n{len(self._lane_citizens[lane]):05d}"
        citizen = self.citizens[cid] = Citizen(cid, lane, self._card(cid))
        self._lane_citizens[lane].append(citizen)
        rec = await self.command(
            lane, "register card", cid, "POST", "/v1/competence-cards", citizen.doc, {202}
        )
        if rec.accepted:
            citizen.version = 1
            if self.rng.random() < 0.8:  # most citizens consent to be presented at once
                await self.give_consent(lane, citizen, scope="all")
        elif rec.outcome_unknown:
            citizen.certain = False
            citizen.version = 1  # maybe: the lane goes on with it, unpredicted

    async def register_again(self, lane: int) -> None:
        citizen = self.rng.choice(self._mine(lane)[0])
        expect = {409} if citizen.certain else None
        rec = await self.command(
            lane, "register card again", citizen.cid, "POST", "/v1/competence-cards",
            citizen.doc, expect,
        )  # fmt: skip
        self._after_change(citizen, rec)

    async def update_card(self, lane: int) -> None:
        citizen = self.rng.choice(self._mine(lane)[0])
        doc = copy.deepcopy(citizen.doc)
        doc["availability"]["hours_per_week"] = self.rng.randint(15, 37)
        doc["location"]["postal_code"] = self.rng.choice(POSTAL_CODES)
        rec = await self._change_citizen(
            lane,
            "update card",
            citizen,
            "PUT",
            f"/v1/competence-cards/{citizen.cid}",
            doc,
            headers={"If-Match": f'"{citizen.version}"'},
        )
        if rec.accepted:
            citizen.doc = doc
            citizen.version += 1

    async def change_availability(self, lane: int) -> None:
        citizen = self.rng.choice(self._mine(lane)[0])
        body: dict[str, Any] = {"available": not citizen.available}
        if citizen.available:
            body["reason"] = "sygemeldt"
        path = f"/v1/citizens/{citizen.cid}/availability"
        rec = await self._change_citizen(lane, "change availability", citizen, "POST", path, body)
        if rec.accepted:
            citizen.available = not citizen.available

    async def give_consent(
        self, lane: int, citizen: Citizen | None = None, scope: str | None = None
    ) -> None:
        citizen = citizen or self.rng.choice(self._mine(lane)[0])
        consent_id = f"cns-{citizen.next_consent}"
        citizen.next_consent += 1
        body: dict[str, Any] = {"consent_id": consent_id, "scope": scope or "all"}
        if scope is None and self.rng.random() < 0.5:
            body = {
                "consent_id": consent_id,
                "scope": "employer",
                "employer_cvr": self.rng.choice(self.rng.choice(list(self.cvrs.values()))),
            }
        rec = await self._change_citizen(
            lane, "give consent", citizen, "POST", f"/v1/citizens/{citizen.cid}/consents", body
        )
        if rec.accepted:
            citizen.consents.append(consent_id)

    async def withdraw_consent(self, lane: int) -> None:
        citizens = [c for c in self._mine(lane)[0] if c.consents]
        if not citizens:
            return await self.give_consent(lane)
        citizen = self.rng.choice(citizens)
        consent_id = self.rng.choice(citizen.consents)
        rec = await self._change_citizen(
            lane,
            "withdraw consent",
            citizen,
            "DELETE",
            f"/v1/citizens/{citizen.cid}/consents/{consent_id}",
        )
        if rec.accepted:
            citizen.consents.remove(consent_id)

    async def post_order(self, lane: int) -> None:
        oid = f"jo-{self.tag}-l{lane}-n{len(self._lane_orders[lane]):05d}"
        order = self.orders[oid] = Order(
            oid, lane, self._order(oid, self.rng.choice(self.cvrs[lane]))
        )
        self._lane_orders[lane].append(order)
        rec = await self.command(
            lane, "post order", oid, "POST", "/v1/job-orders", order.doc, {202}
        )
        if rec.accepted:
            order.version = 1
        elif rec.outcome_unknown:
            order.certain = False
            order.version = 1

    async def post_again(self, lane: int) -> None:
        order = self.rng.choice(self._mine(lane)[1])
        rec = await self.command(
            lane, "post order again", order.oid, "POST", "/v1/job-orders", order.doc,
            {409} if order.certain else None,
        )  # fmt: skip
        self._after_change(order, rec)

    async def update_order(self, lane: int) -> None:
        order = self.rng.choice(self._mine(lane)[1])
        doc = copy.deepcopy(order.doc)
        doc["hours_per_week"] = self.rng.choice([25, 30, 32, 37])
        doc["description"] = f"Opdateret {self.rng.randrange(10**6)}"
        expect = ({202} if order.open else {409}) if order.certain else None
        rec = await self.command(
            lane,
            "update order",
            order.oid,
            "PUT",
            f"/v1/job-orders/{order.oid}",
            doc,
            expect,
            headers={"If-Match": f'"{order.version}"'},
        )
        self._after_change(order, rec)
        if rec.accepted:
            order.doc = doc
            order.version += 1

    async def close_order(self, lane: int) -> None:
        order = self.rng.choice([o for o in self._mine(lane)[1] if o.open])
        rec = await self.command(
            lane,
            "close order",
            order.oid,
            "POST",
            f"/v1/job-orders/{order.oid}/close",
            {"reason": "withdrawn"},
            {202} if order.certain else None,
        )
        self._after_change(order, rec)
        if rec.accepted:
            order.open = False

    async def review(self, lane: int) -> None:
        order = self.rng.choice([o for o in self._mine(lane)[1] if o.open])
        response = await self.query(
            "profiles", "suggestions", f"/v1/job-orders/{order.oid}/suggestions", limit=20
        )
        if response is None or response.status_code != 200:
            return
        fresh = [
            s
            for s in response.json().get("suggestions", [])
            if s["suggestion_id"] not in self.suggestions
        ]
        if not fresh:
            return await self.register_card(lane)
        pick = self.rng.choice(fresh)
        sid, cid = str(pick["suggestion_id"]), str(pick["citizen_id"])
        if self.rng.random() < 0.7:
            rec = await self.command(
                lane, "accept", sid, "POST", f"/v1/suggestions/{sid}/accept", {}
            )
            stage = "accepted"
        else:
            body = {
                "reason_code": self.rng.choice(["transport", "danish_level", "citizen_declines"])
            }
            rec = await self.command(
                lane, "reject", sid, "POST", f"/v1/suggestions/{sid}/reject", body
            )
            stage = "rejected"
        if rec.accepted:
            self.suggestions[sid] = Suggestion(sid, order.oid, cid, stage)

    async def advance(self, lane: int) -> None:
        """The next step of an accepted suggestion on one of the lane's orders."""
        mine = {o.oid for o in self._mine(lane)[1] if o.open}
        steps = [
            s
            for s in self.suggestions.values()
            if s.oid in mine and s.stage in ("accepted", "presented", "interview", "hired")
        ]
        if not steps:
            return await self.review(lane) if mine else await self.post_order(lane)
        s = self.rng.choice(steps)
        if s.stage == "accepted":
            rec = await self.command(
                lane, "present", s.sid, "POST", f"/v1/suggestions/{s.sid}/present", {}
            )
            if rec.accepted:
                s.stage = "presented"
            elif rec.status == 409:
                s.stage = "declined"  # no consent on record (or retracted): leave it
            return
        if s.stage in ("presented", "interview"):
            options = ["hired", "declined"] + (["interview"] if s.stage == "presented" else [])
            decision = self.rng.choice(options)
            rec = await self.command(
                lane,
                "employer decision",
                s.sid,
                "POST",
                f"/v1/suggestions/{s.sid}/employer-decision",
                {"decision": decision},
            )
            if rec.accepted:
                s.stage = decision
            return
        order = self.orders[s.oid]
        start = min(dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30), IGU_LAST_START)
        body = {
            "suggestion_id": s.sid,
            "placement_type": "ordinary",
            "start_date": start.isoformat(),
            "weekly_hours_work": 37,
        }
        rec = await self.command(lane, "start placement", s.oid, "POST", "/v1/placements", body)
        if rec.accepted:
            s.stage = "placed"
            order.filled += 1
            if any(e.event_type == "JobOrderClosed" for e in rec.events):
                order.open = False
        elif rec.outcome_unknown:
            order.certain = False
        elif rec.status == 409:
            s.stage = "declined"

    @staticmethod
    def _after_change(aggregate: Citizen | Order, rec: CommandRecord) -> None:
        """An unknown outcome, or an answer the lane did not predict: stop predicting."""
        if rec.outcome_unknown or (rec.expect is not None and rec.status not in rec.expect):
            aggregate.certain = False

    async def _change_citizen(
        self,
        lane: int,
        name: str,
        citizen: Citizen,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> CommandRecord:
        """A command on a citizen that the lane predicts accepted while it is certain."""
        expect = {202} if citizen.certain else None
        rec = await self.command(lane, name, citizen.cid, method, path, body, expect, headers)
        self._after_change(citizen, rec)
        return rec

    # -- readers -----------------------------------------------------------------------------

    async def _reader(self, finished: Callable[[], bool]) -> None:
        while not finished():
            try:
                await self.read_once()
            except Exception as exc:
                self.errors.append(f"read: {type(exc).__name__}: {exc}"[:300])
            await asyncio.sleep(self.options.query_pause)

    async def read_once(self) -> None:
        lane = self.rng.randrange(self.options.lanes)
        citizens, orders = self._mine(lane)
        roll = self.rng.random()
        if citizens and roll < 0.35:
            c = self.rng.choice(citizens)
            params = {}
            if c.cid in self.last_token and self.rng.random() < 0.3:
                params["min_position"] = self.last_token[c.cid]
            await self.query("profiles", "citizen", f"/v1/citizens/{c.cid}", **params)
        elif orders and roll < 0.6:
            o = self.rng.choice(orders)
            await self.query("profiles", "job order", f"/v1/job-orders/{o.oid}")
        elif orders and roll < 0.75:
            o = self.rng.choice(orders)
            await self.query("profiles", "order timeline", f"/v1/job-orders/{o.oid}/timeline")
        elif roll < 0.85:
            await self.query("profiles", "worklist", f"/v1/worklists/{MUNICIPALITY}")
        elif citizens:
            c = self.rng.choice(citizens)
            await self.query("matching", "best orders", f"/v1/citizens/{c.cid}/orders", k=5)

    # -- after the drill: the write side against the log ------------------------------------------

    async def probe_write_side(self, log: LogFacts, sample: int) -> None:
        """A command on each uncertain aggregate (and on `sample` certain ones) whose answer
        the log alone decides: a card or order the log lacks registers (202); one it has
        takes a change based on the log's version (202); a closed order refuses to close
        (409). Afterwards the lane knows these aggregates again."""
        self.phase = "probe"
        uncertain_c = [c for c in self.citizens.values() if not c.certain]
        uncertain_o = [o for o in self.orders.values() if not o.certain]
        certain_c = [c for c in self.citizens.values() if c.certain and c.version]
        certain_o = [o for o in self.orders.values() if o.certain and o.version]
        picked_c = uncertain_c + self.rng.sample(certain_c, min(sample, len(certain_c)))
        picked_o = uncertain_o + self.rng.sample(certain_o, min(sample, len(certain_o)))
        for citizen in picked_c:
            await self._probe_citizen(citizen, log)
        for order in picked_o:
            await self._probe_order(order, log)

    async def _probe_citizen(self, citizen: Citizen, log: LogFacts) -> None:
        found = log.citizens.get(citizen.cid)
        lane = citizen.lane
        if found is None or not found.version:
            rec = await self.command(
                lane, "probe: register card", citizen.cid, "POST", "/v1/competence-cards",
                citizen.doc, {202},
            )  # fmt: skip
            citizen.version = 1 if rec.accepted else 0
        else:
            rec = await self.command(
                lane,
                "probe: update card",
                citizen.cid,
                "PUT",
                f"/v1/competence-cards/{citizen.cid}",
                citizen.doc,
                {202},
                headers={"If-Match": f'"{found.version}"'},
            )
            citizen.version = found.version + 1 if rec.accepted else found.version
        citizen.certain = rec.accepted

    async def _probe_order(self, order: Order, log: LogFacts) -> None:
        found = log.orders.get(order.oid)
        lane = order.lane
        if found is None or not found.version:
            rec = await self.command(
                lane, "probe: post order", order.oid, "POST", "/v1/job-orders", order.doc, {202}
            )
            order.version, order.open = (1, True) if rec.accepted else (0, False)
            order.certain = rec.accepted
        elif found.status == "open":
            rec = await self.command(
                lane,
                "probe: update order",
                order.oid,
                "PUT",
                f"/v1/job-orders/{order.oid}",
                order.doc,
                {202},
                headers={"If-Match": f'"{found.version}"'},
            )
            order.version = found.version + 1 if rec.accepted else found.version
            order.certain = rec.accepted
        else:
            rec = await self.command(
                lane,
                "probe: close order",
                order.oid,
                "POST",
                f"/v1/job-orders/{order.oid}/close",
                {"reason": "withdrawn"},
                {409},
            )
            order.open = False
            order.certain = rec.status == 409


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    detail = body.get("detail", body) if isinstance(body, dict) else body
    return str(detail)[:200]


def _retry_after(response: httpx.Response, default: float) -> float:
    try:
        return float(response.headers.get("Retry-After", default))
    except ValueError:
        return default
