"""Bench data generator: a bureau's history at a chosen scale, written with bulk inserts.

On top of a migrated database holding the shipped catalogue and the demo bureau (so the demo
sign-ins work), it adds units and people up to the scale's organisation, five years of periodic
items and enforcement cases with their items, evidence (small files stored in the local blob
store, shared between rows as content addressing allows), submissions, reviews, and the audit
events all of these imply, chained exactly as `tracker.services.audit.record` chains them so that
`tracker verify` passes on the result.

    python bench/generate.py --scale small --database-url sqlite:////tmp/b.sqlite3 --blobs DIR

Every figure is deterministic for a given scale and seed; "today" is the bureau's real today.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bulk import BulkWriter  # noqa: E402
from bench.database import BENCH_CHIEF  # noqa: E402
from tracker.services.audit import canonical_bytes  # noqa: E402
from tracker.services.periods import periods_for  # noqa: E402
from tracker.storage import LocalBlobStorage  # noqa: E402

BUREAU_TZ = ZoneInfo("Asia/Shanghai")
YEARS = 5
PERIODIC_SHARE = 5  # one item in five is periodic, the rest belong to cases (at city scale)
ITEMS_PER_CASE = 8  # ≈ the case items per case at city scale (1,000,000 items, 100,000 cases)
EVIDENCE_PER_ITEM = 2
SHOWCASE_EVIDENCE = 20  # the item page measured shows this many evidence rows
BATCH = 20_000


@dataclass(frozen=True)
class Scale:
    """How big a generated bureau is."""

    items: int
    units: int = 300
    users: int = 3_000
    blobs: int = 500  # distinct small files behind all evidence rows

    @property
    def cases(self) -> int:
        return max(self.items // 10, 1)


SCALES = {
    "small": Scale(items=10_000),
    "medium": Scale(items=100_000),
    "city": Scale(items=1_000_000),
}


def scale_named(
    name: str, *, items: int | None = None, units: int | None = None, users: int | None = None
) -> Scale:
    """A named scale, or `custom` built from the given figures."""
    if name == "custom":
        if not items:
            raise ValueError("the custom scale needs --items")
        return Scale(items=items, units=units or 30, users=users or 100, blobs=50)
    return SCALES[name]


def bureau_today() -> date:
    return datetime.now(UTC).astimezone(BUREAU_TZ).date()


def _thinned(total: int, wanted: int) -> Iterator[bool]:
    """Evenly spread `wanted` picks over `total` candidates (True = take this one)."""
    for i in range(total):
        yield (i + 1) * wanted // total > i * wanted // total


@dataclass
class Chain:
    """The end of the audit chain, extended in memory and written in batches."""

    seq: int
    last_hash: str
    rows: list[tuple] = field(default_factory=list)
    next_id: int = 1
    count: int = 0

    def add(
        self,
        writer: BulkWriter,
        *,
        at: datetime,
        actor: tuple[int, str],
        action: str,
        object_type: str,
        object_id: object,
        data: dict,
    ) -> None:
        self.seq += 1
        object_key = None if object_id is None else str(object_id)
        digest = hashlib.sha256(
            canonical_bytes(
                seq=self.seq,
                occurred_at=at,
                actor_id=actor[0],
                actor_label=actor[1],
                action=action,
                object_type=object_type,
                object_id=object_key,
                data=data,
                prev_hash=self.last_hash,
            )
        ).hexdigest()
        self.rows.append(
            (
                self.next_id,
                self.seq,
                writer.instant(at),
                actor[0],
                actor[1],
                action,
                object_type,
                object_key,
                json.dumps(data, ensure_ascii=False),
                self.last_hash,
                digest,
            )
        )
        self.next_id += 1
        self.count += 1
        self.last_hash = digest

    def flush(self, writer: BulkWriter) -> None:
        writer.insert(
            "audit_event",
            (
                "id",
                "seq",
                "occurred_at",
                "actor_id",
                "actor_label",
                "action",
                "object_type",
                "object_id",
                "data",
                "prev_hash",
                "hash",
            ),
            self.rows,
        )
        self.rows = []


@dataclass
class Org:
    """Units and people, as the generator needs them."""

    unit_ids: list[int]
    unit_names: dict[int, str]
    people_of_unit: dict[int, list[tuple[int, str]]]
    inspectors: list[tuple[int, str]]
    chief_unit_id: int
    admin: tuple[int, str]

    def actor_for(self, unit_id: int, n: int) -> tuple[int, str]:
        people = self.people_of_unit.get(unit_id) or [self.admin]
        return people[n % len(people)]


def _next_id(writer: BulkWriter, table: str) -> int:
    return (writer.scalar(f"SELECT max(id) FROM {table}") or 0) + 1


def build_org(writer: BulkWriter, scale: Scale, chain: Chain, now: datetime) -> Org:
    """Add units under the demo units and people in them up to the scale's figures."""
    units = writer.rows("SELECT id, code, name, path, kind FROM unit ORDER BY id")
    parents = [u for u in units if u[4] != "bureau"]
    admin_row = writer.rows(
        "SELECT id, email, password_hash FROM user_account WHERE role = 'admin' ORDER BY id"
    )[0]
    admin = (admin_row[0], admin_row[1])
    password_hash = admin_row[2]  # every generated person signs in with the demo password
    stamp = writer.instant(now)
    new_units = []
    unit_id = _next_id(writer, "unit")
    for n in range(max(scale.units - len(units), 0)):
        parent = parents[n % len(parents)]
        code = f"G{n + 1:04d}"
        name = f"{parent[2]}第{n // len(parents) + 1}组"
        path = f"{parent[3]}{unit_id}/"
        kind = "station" if parent[4] in ("station", "brigade") else "section"
        new_units.append((unit_id, code, name, None, kind, parent[0], path, True, stamp))
        chain.add(
            writer,
            at=now,
            actor=admin,
            action="unit.created",
            object_type="unit",
            object_id=unit_id,
            data={"code": code, "name": name, "kind": kind, "parent": parent[1]},
        )
        unit_id += 1
    writer.insert(
        "unit",
        ("id", "code", "name", "name_en", "kind", "parent_id", "path", "active", "created_at"),
        new_units,
    )
    all_units = [(u[0], u[2]) for u in units] + [(u[0], u[2]) for u in new_units]
    existing_users = writer.scalar("SELECT count(*) FROM user_account")
    new_users = []
    user_id = _next_id(writer, "user_account")
    unit_cycle = [u for u, _name in all_units if u != units[0][0]]
    new_unit_ids = {u[0] for u in new_units}
    chiefs_made: set[int] = set()
    for n in range(max(scale.users - existing_users, 0)):
        unit = unit_cycle[n % len(unit_cycle)]
        if n % 50 == 49:
            role = "inspector"
        elif unit in new_unit_ids and unit not in chiefs_made:
            role = "chief"
            chiefs_made.add(unit)
        else:
            role = "staff"
        email = f"u{n + 1:05d}@bench.example.org"
        name = f"基准{n + 1:05d}"
        new_users.append(
            (
                user_id,
                email,
                name,
                role,
                unit,
                True,
                None,
                password_hash,
                secrets.token_urlsafe(24),
                0,
                stamp,
            )
        )
        chain.add(
            writer,
            at=now,
            actor=admin,
            action="user.created",
            object_type="user",
            object_id=user_id,
            data={"email": email, "name": name, "role": role, "unit_id": unit},
        )
        user_id += 1
    writer.insert(
        "user_account",
        (
            "id",
            "email",
            "name",
            "role",
            "unit_id",
            "active",
            "locale",
            "password_hash",
            "session_token",
            "failed_logins",
            "created_at",
        ),
        new_users,
    )
    people_of_unit: dict[int, list[tuple[int, str]]] = {}
    inspectors = []
    for uid, email, role, unit in writer.rows(
        "SELECT id, email, role, unit_id FROM user_account ORDER BY id"
    ):
        if role in ("chief", "staff"):
            people_of_unit.setdefault(unit, []).append((uid, email))
        elif role == "inspector":
            inspectors.append((uid, email))
    chief_unit = writer.scalar("SELECT unit_id FROM user_account WHERE email = ?", (BENCH_CHIEF,))
    return Org(
        unit_ids=[u for u, _name in all_units],
        unit_names=dict(all_units),
        people_of_unit=people_of_unit,
        inspectors=inspectors or [admin],
        chief_unit_id=chief_unit,
        admin=admin,
    )


def make_blobs(writer: BulkWriter, storage: LocalBlobStorage, count: int, now: datetime) -> list:
    """Small distinct PDF-like files in the blob store and their Blob rows: (sha256, size)."""
    known = {r[0] for r in writer.rows("SELECT sha256 FROM blob")}
    made = []
    rows = []
    for n in range(count):
        body = b"%PDF-1.4\n% bench evidence " + str(n).encode() + b"\n" + b"x" * (200 + n % 1800)
        digest = hashlib.sha256(body).hexdigest()
        # Where the local backend keeps it; written without its fsyncs (throwaway bench data).
        path = storage.path_for(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        made.append((digest, len(body)))
        if digest not in known:
            rows.append((digest, len(body), "application/pdf", writer.instant(now)))
    writer.insert("blob", ("sha256", "size", "content_type", "created_at"), rows)
    return made


@dataclass
class Counters:
    items: int = 0
    cases: int = 0
    evidence: int = 0
    submissions: int = 0
    reviews: int = 0
    audit_events: int = 0
    seconds: float = 0.0


class Generator:
    """Writes one scale's history; `run()` returns the counts."""

    def __init__(
        self,
        writer: BulkWriter,
        scale: Scale,
        storage: LocalBlobStorage,
        *,
        seed: int = 2026,
        today: date | None = None,
    ) -> None:
        self.writer = writer
        self.scale = scale
        self.storage = storage
        self.random = random.Random(seed)
        self.today = today or bureau_today()
        self.years = list(range(self.today.year - YEARS + 1, self.today.year + 1))
        self.now = datetime.combine(self.today, datetime.min.time(), BUREAU_TZ).astimezone(UTC)
        head = writer.rows("SELECT last_seq, last_hash FROM audit_head WHERE id = 1")[0]
        self.chain = Chain(seq=head[0], last_hash=head[1], next_id=_next_id(writer, "audit_event"))
        self.counts = Counters()
        self.item_rows: list[tuple] = []
        self.evidence_rows: list[tuple] = []
        self.submission_rows: list[tuple] = []
        self.review_rows: list[tuple] = []
        self.showcase_done = False

    # ---------------------------------------------------------------- the plan

    def _requirements(self) -> tuple[list[tuple], list[tuple]]:
        rows = self.writer.rows(
            "SELECT id, version, code, cadence, applies_to FROM requirement WHERE active "
            "ORDER BY code"
        )
        periodic = [r for r in rows if r[3] in ("annual", "semiannual", "quarterly", "monthly")]
        event = [r for r in rows if r[3] == "event"]
        return periodic, event

    def _periodic_slots(self, periodic: list[tuple], org: Org) -> Iterator[tuple]:
        for year in self.years:
            for req in periodic:
                for period in periods_for(req[3], year):
                    for unit in org.unit_ids:
                        yield req, unit, period

    # ---------------------------------------------------------------- one item

    def _status(self, due: date, n: int) -> str:
        roll = self.random.random()
        if due < self.today:
            if roll < 0.006:
                return "open"  # overdue: about 1% of items are due or overdue in all
            if roll < 0.008:
                return "returned"
            if roll < 0.013:
                return "submitted"
            return "approved"
        if roll < 0.15:
            return "submitted"
        return "open"

    def _item(
        self,
        org: Org,
        *,
        req: tuple,
        unit: int,
        period: str | None,
        case_id: int | None,
        year: int,
        due: date,
        created: datetime,
    ) -> None:
        w = self.writer
        item_id = self.next_item_id
        self.next_item_id += 1
        n = self.counts.items
        status = self._status(due, n)
        people = org.people_of_unit.get(unit)
        assignee = people[n % len(people)][0] if people and n % 2 else None
        scope_key = f"case:{case_id}" if case_id else period
        stamp = w.instant(created)
        uploaded = min(created + timedelta(days=3), self.now - timedelta(hours=2))
        submitted_at = min(uploaded + timedelta(hours=4), self.now - timedelta(hours=1))
        was_submitted = status in ("submitted", "approved", "returned")
        self.item_rows.append(
            (
                item_id,
                req[0],
                req[1],
                unit,
                period,
                case_id,
                scope_key,
                w.day(due),
                False,
                f"基准数据：{due.isoformat()} 截止",
                f"bench data: due {due.isoformat()}",
                "bench",
                status,
                assignee,
                None,
                False,
                stamp,
                stamp,
                w.instant(submitted_at) if was_submitted else None,
                w.day(submitted_at.astimezone(BUREAU_TZ).date()) if was_submitted else None,
                year,
            )
        )
        self.counts.items += 1
        evidence_count = EVIDENCE_PER_ITEM
        if not self.showcase_done and unit == org.chief_unit_id and status == "approved":
            evidence_count = SHOWCASE_EVIDENCE
            self.showcase_done = True
            self.showcase_item = item_id
        actor = org.actor_for(unit, n)
        submitted_round = 1 if status in ("submitted", "approved", "returned") else None
        for k in range(evidence_count):
            self._evidence(item_id, actor, uploaded + timedelta(minutes=k), submitted_round, n + k)
        if submitted_round is None:
            return
        submission_id = self.next_submission_id
        self.next_submission_id += 1
        self.submission_rows.append(
            (
                submission_id,
                item_id,
                1,
                actor[0],
                w.instant(submitted_at),
                None,
                None,
                evidence_count,
            )
        )
        self.counts.submissions += 1
        self.chain.add(
            w,
            at=submitted_at,
            actor=actor,
            action="item.submitted",
            object_type="checklist_item",
            object_id=item_id,
            data={
                "round": 1,
                "submission_id": submission_id,
                "evidence_ids": [],
                "sha256": None,
                "value": None,
                "note": None,
            },
        )
        if status == "submitted":
            return
        reviewer = org.inspectors[n % len(org.inspectors)]
        decided_at = min(submitted_at + timedelta(days=2), self.now - timedelta(minutes=30))
        review_id = self.next_review_id
        self.next_review_id += 1
        decision = "approve" if status == "approved" else "return"
        comment = None if decision == "approve" else "证据不完整，请补充。"
        self.review_rows.append(
            (
                review_id,
                item_id,
                submission_id,
                reviewer[0],
                decision,
                comment,
                w.instant(decided_at),
            )
        )
        self.counts.reviews += 1
        self.chain.add(
            w,
            at=decided_at,
            actor=reviewer,
            action="item.approved" if decision == "approve" else "item.returned",
            object_type="checklist_item",
            object_id=item_id,
            data={
                "round": 1,
                "submission_id": submission_id,
                "review_id": review_id,
                "comment" if decision == "approve" else "reason": comment,
            },
        )

    def _evidence(
        self,
        item_id: int,
        actor: tuple[int, str],
        at: datetime,
        submitted_round: int | None,
        n: int,
    ) -> None:
        sha256, size = self.blobs[n % len(self.blobs)]
        evidence_id = self.next_evidence_id
        self.next_evidence_id += 1
        filename = f"执法公示材料-{n % 997}.pdf"
        self.evidence_rows.append(
            (
                evidence_id,
                item_id,
                "file",
                sha256,
                filename,
                filename,
                "application/pdf",
                size,
                None,
                None,
                None,
                None,
                actor[0],
                self.writer.instant(at),
                submitted_round,
                None,
                None,
            )
        )
        self.counts.evidence += 1
        self.chain.add(
            self.writer,
            at=at,
            actor=actor,
            action="evidence.added",
            object_type="evidence",
            object_id=evidence_id,
            data={
                "item_id": item_id,
                "kind": "file",
                "filename": filename,
                "sha256": sha256,
                "size": size,
                "content_type": "application/pdf",
                "deduplicated": True,
                "occurred_on": None,
            },
        )

    # ---------------------------------------------------------------- writing

    def _flush(self, force: bool = False) -> None:
        if not force and len(self.item_rows) < BATCH:
            return
        w = self.writer
        w.insert(
            "checklist_item",
            (
                "id",
                "requirement_id",
                "requirement_version",
                "unit_id",
                "period",
                "case_id",
                "scope_key",
                "due_date",
                "due_provisional",
                "due_basis_zh",
                "due_basis_en",
                "calendar_version",
                "status",
                "assignee_id",
                "value",
                "created_overdue",
                "created_at",
                "updated_at",
                "last_submitted_at",
                "last_submitted_on",
                "year",
            ),
            self.item_rows,
        )
        w.insert(
            "evidence",
            (
                "id",
                "item_id",
                "kind",
                "blob_sha256",
                "original_filename",
                "safe_filename",
                "content_type",
                "size",
                "url",
                "title",
                "note",
                "occurred_on",
                "uploaded_by_id",
                "uploaded_at",
                "submitted_round",
                "withdrawn_at",
                "withdrawn_by_id",
            ),
            self.evidence_rows,
        )
        w.insert(
            "submission",
            (
                "id",
                "item_id",
                "round",
                "submitted_by_id",
                "submitted_at",
                "note",
                "value",
                "evidence_count",
            ),
            self.submission_rows,
        )
        w.insert(
            "review",
            ("id", "item_id", "submission_id", "reviewer_id", "decision", "comment", "decided_at"),
            self.review_rows,
        )
        self.chain.flush(w)
        self.item_rows, self.evidence_rows = [], []
        self.submission_rows, self.review_rows = [], []

    def _cases(self, org: Org, count: int) -> list[tuple[int, int, date, bool]]:
        """Cases spread evenly over the five years up to today: (id, unit, decided_on, major)."""
        w = self.writer
        first = date(self.years[0], 1, 1)
        span = (self.today - first).days
        case_id = _next_id(w, "enforcement_case")
        units = [u for u in org.unit_ids if u in org.people_of_unit]
        rows, made = [], []
        for n in range(count):
            decided = first + timedelta(days=n * span // count)
            unit = units[n % len(units)]
            major = n % 10 == 0
            case_no = f"基准〔{decided.year}〕{n + 1:07d}号"
            created = datetime.combine(decided, datetime.min.time(), BUREAU_TZ).astimezone(UTC)
            stamp = w.instant(created + timedelta(hours=10))
            rows.append(
                (
                    case_id,
                    case_no,
                    unit,
                    w.day(decided),
                    w.day(decided + timedelta(days=5)),
                    None,
                    w.day(decided - timedelta(days=40)),
                    major,
                    f"杭州基准{n}有限公司",
                    stamp,
                    org.admin[0],
                    stamp,
                )
            )
            self.chain.add(
                w,
                at=created + timedelta(hours=10),
                actor=org.admin,
                action="case.created",
                object_type="case",
                object_id=case_id,
                data={
                    "case_no": case_no,
                    "unit": org.unit_names[unit],
                    "decided_on": decided.isoformat(),
                    "major": major,
                },
            )
            made.append((case_id, unit, decided, major))
            case_id += 1
            if len(rows) >= BATCH:
                self._write_cases(rows)
                rows = []
        self._write_cases(rows)
        self.counts.cases = count
        return made

    def _write_cases(self, rows: list[tuple]) -> None:
        self.writer.insert(
            "enforcement_case",
            (
                "id",
                "case_no",
                "unit_id",
                "decided_on",
                "served_on",
                "closed_on",
                "registered_on",
                "major",
                "party",
                "created_at",
                "created_by_id",
                "updated_at",
            ),
            rows,
        )
        self.chain.flush(self.writer)

    def run(self) -> Counters:
        started = time.perf_counter()
        w = self.writer
        org = build_org(w, self.scale, self.chain, self.now)
        self.blobs = make_blobs(w, self.storage, self.scale.blobs, self.now)
        self.next_item_id = _next_id(w, "checklist_item")
        self.next_evidence_id = _next_id(w, "evidence")
        self.next_submission_id = _next_id(w, "submission")
        self.next_review_id = _next_id(w, "review")
        periodic, event = self._requirements()
        taken = {
            tuple(r)
            for r in w.rows("SELECT requirement_id, unit_id, scope_key FROM checklist_item")
        }

        # Periodic items: an even thinning of every (year, requirement, period, unit) slot.
        slots = (
            len(self.years)
            * len(org.unit_ids)
            * sum(len(periods_for(r[3], self.today.year)) for r in periodic)
        )
        wanted = min(slots, self.scale.items // PERIODIC_SHARE)
        made = 0
        for take, (req, unit, period) in zip(
            _thinned(slots, wanted), self._periodic_slots(periodic, org), strict=True
        ):
            if not take or (req[0], unit, period.code) in taken:
                continue
            created = datetime.combine(period.start, datetime.min.time(), BUREAU_TZ)
            self._item(
                org,
                req=req,
                unit=unit,
                period=period.code,
                case_id=None,
                year=period.start.year,
                due=period.end + timedelta(days=15),
                created=created.astimezone(UTC),
            )
            made += 1
            self._flush()
        self._flush(force=True)

        # Case items: the rest, spread over the cases; each (requirement, unit) once per case.
        case_items = self.scale.items - made
        cases = self._cases(org, max(case_items // ITEMS_PER_CASE, 1))
        owners = org.unit_ids[1:6]  # the legal section first, then other sections
        for index, (case_id, unit, decided, _major) in enumerate(cases):
            share = case_items // len(cases) + (1 if index < case_items % len(cases) else 0)
            created = datetime.combine(decided, datetime.min.time(), BUREAU_TZ).astimezone(UTC)
            candidates = [unit] + [o for o in owners if o != unit]
            for k in range(share):
                req = event[k % len(event)]
                owner = candidates[(k // len(event)) % len(candidates)]
                self._item(
                    org,
                    req=req,
                    unit=owner,
                    period=None,
                    case_id=case_id,
                    year=decided.year,
                    due=decided + timedelta(days=7 + 7 * (k % 4)),
                    created=created + timedelta(hours=10),
                )
                self._flush()
        self._flush(force=True)
        w.execute(
            "UPDATE audit_head SET last_seq = ?, last_hash = ? WHERE id = 1",
            (self.chain.seq, self.chain.last_hash),
        )
        self.counts.audit_events = self.chain.count
        w.finish()
        self.counts.seconds = time.perf_counter() - started
        return self.counts


def generate(url: str, scale: Scale, blob_root: str | Path, *, seed: int = 2026) -> Counters:
    """Fill the (migrated, bootstrapped) database at `url` to `scale`."""
    writer = BulkWriter(url)
    return Generator(writer, scale, LocalBlobStorage(blob_root), seed=seed).run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=[*SCALES, "custom"], default="small")
    parser.add_argument("--items", type=int, help="custom scale: checklist items")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--blobs", required=True, help="the local blob store's folder")
    options = parser.parse_args()
    scale = scale_named(options.scale, items=options.items)
    counts = generate(options.database_url, scale, options.blobs)
    print(json.dumps(counts.__dict__))


if __name__ == "__main__":
    main()
