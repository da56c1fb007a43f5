"""The console's one door to the use cases (tracesvc.service): every read and command the pages make.

Kept in one module so the pages never see how a use case pages or names its rows. Reads of
evidence go through Enforcement, which audits each; reads the gRPC servicers audit themselves
(cases, suggestions, case files) are audited here the same way.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from reconciler.jobs import Mode, RunInfo
from reconciler.store.findings import FlagFilter
from reconciler.store.suspects import SuspectRole, SuspectRow
from tracesvc.console.text import CST
from tracesvc.domain import privacy
from tracesvc.domain.events import Event
from tracesvc.domain.registry import Party
from tracesvc.service import casefile
from tracesvc.service import cases as case_service
from tracesvc.service.access import Principal
from tracesvc.service.cases import Actor, Cases, CaseView
from tracesvc.service.enforcement import CodeHistory, Enforcement, Purchase, Standing, Subject, Travel
from tracesvc.service.runs import RunControl
from tracesvc.service.suggest import Suggestion
from tracesvc.store.findings import ChainRow, FlagRow, ReviewRow

CaseRow = case_service.store.CaseRow  # the use case's row type (the console never imports a store)
MAX_SCAN = 5000  # flags a queue or overview reads at most; the page says so when it is cut


@dataclass
class UseCases:
    enforcement: Enforcement
    cases: Cases
    runs: RunControl
    hmac_key: bytes


@dataclass
class FlagQuery:
    rule: str = ""
    kind: str = ""
    status: str = ""
    region: str = ""
    party: str = ""
    date_from: datetime | None = None
    date_to: datetime | None = None
    min_money_fen: int = 0
    sort: str = "newest"

    def to_filter(self) -> FlagFilter:
        return FlagFilter(
            rule=self.rule,
            kind=self.kind,
            party_id=self.party,
            region=self.region,
            occurred_from=self.date_from,
            occurred_to=self.date_to,
            statuses=(self.status,) if self.status else (),
        )


SORTS = {
    "newest": (lambda f: f.decisive_at, True),
    "oldest": (lambda f: f.decisive_at, False),
    "money": (lambda f: f.money_fen, True),
    "severity": (lambda f: {"HIGH": 3, "MEDIUM": 2, "LOW": 1}.get(f.severity, 0), True),
}


async def flags(
    uc: UseCases, who: Principal, q: FlagQuery, filt: FlagFilter | None = None
) -> tuple[list[FlagRow], bool]:
    """The flags a query matches, sorted; (rows, cut: more than MAX_SCAN matched)."""
    out: list[FlagRow] = []
    after = 0
    base = filt or q.to_filter()
    while len(out) <= MAX_SCAN:
        page = await uc.enforcement.list_flags(who, base, after, 1000)
        if not page:
            break
        out += [f for f in page if f.money_fen >= q.min_money_fen]
        after = page[-1].flag_seq
        if len(page) < 1000:
            break
    key, reverse = SORTS.get(q.sort, SORTS["newest"])
    out.sort(key=key, reverse=reverse)
    return out[:MAX_SCAN], len(out) > MAX_SCAN


def money_once(rows: Sequence[FlagRow]) -> int:
    """Money at risk with each decisive event counted once (its largest flag): the D, L and R flags of
    one resale do not count its fund money three times."""
    most: dict[str, int] = {}
    for f in rows:
        most[f.decisive_event_id] = max(most.get(f.decisive_event_id, 0), f.money_fen)
    return sum(most.values())


@dataclass
class Overview:
    open_flags: int
    money_fen: int
    by_rule_kind: list[tuple[str, str, int, int]]  # rule, kind, flags, fen
    by_region: list[tuple[str, int]]
    by_week: list[tuple[str, int]]
    runs: list[RunInfo]
    suspects: dict[str, list[SuspectRow]]
    cut: bool = False


async def overview(uc: UseCases, who: Principal, days: int = 14) -> Overview:
    rows, cut = await flags(uc, who, FlagQuery(status="OPEN"))
    kinds: Counter[tuple[str, str]] = Counter()
    money: Counter[tuple[str, str]] = Counter()
    regions: Counter[str] = Counter()
    weeks: Counter[str] = Counter()
    for f in rows:
        kinds[(f.rule, f.kind)] += 1
        money[(f.rule, f.kind)] += f.money_fen
        regions[f.subject_region or "—"] += 1
        local = f.decisive_at.astimezone(CST)
        weeks[(local - timedelta(days=local.weekday())).strftime("%Y-%m-%d")] += 1
    runs = await uc.runs.list(20, None)
    since = datetime.now(CST) - timedelta(days=days)
    suspects = {}
    for role in SuspectRole:
        suspects[role.value] = await uc.enforcement.rank_suspects(who, role, 5)
    return Overview(
        open_flags=len(rows),
        money_fen=money_once(rows),
        by_rule_kind=sorted(((r, k, n, money[(r, k)]) for (r, k), n in kinds.items()), key=lambda x: -x[2]),
        by_region=sorted(regions.items(), key=lambda x: -x[1])[:12],
        by_week=sorted(weeks.items())[-12:],
        runs=[r for r in runs if r.started_at >= since] or runs[:5],
        suspects=suspects,
        cut=cut,
    )


@dataclass
class FlagDetail:
    flag: FlagRow
    chains: list[ChainRow] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    parties: dict[str, Party] = field(default_factory=dict)
    standing: dict[tuple[str, str], Standing] = field(default_factory=dict)  # (event, party) -> standing
    purchases: list[Purchase] = field(default_factory=list)
    travels: list[Travel] = field(default_factory=list)
    history: CodeHistory | None = None
    case_id: str = ""
    reviews: list[ReviewRow] = field(default_factory=list)


async def flag_detail(uc: UseCases, who: Principal, flag_id: str) -> FlagDetail:
    """Everything behind one flag, as ExportEvidence collects it (and audits it)."""
    flag = await uc.enforcement.get_flag(who, flag_id)
    flag_id = flag.flag_id  # the whole id, where a prefix was given
    detail = FlagDetail(flag)
    async for item in uc.enforcement.export_evidence(who, Subject.FLAG, flag_id):
        if isinstance(item, ChainRow):
            detail.chains.append(item)
        elif isinstance(item, Event):
            detail.events.append(item)
        elif isinstance(item, Party):
            detail.parties[item.party_id] = item
        elif isinstance(item, Standing):
            detail.standing[(item.event_id, item.party_id)] = item
        elif isinstance(item, Purchase):
            detail.purchases.append(item)
        elif isinstance(item, Travel):
            detail.travels.append(item)
    if flag.rule not in ("S", "B"):
        detail.history = await uc.enforcement.code_history(who, flag.code)
    detail.case_id = (await uc.cases.case_of_flags([flag_id])).get(flag_id, "")
    detail.reviews = await uc.enforcement.review_history(who, flag_id)
    return detail


@dataclass
class PartyView:
    party: Party
    flags: list[FlagRow]
    chains: list[ChainRow]
    suppliers: list[tuple[str, int]]  # supplier id, receipts from it
    names: dict[str, str]


async def party_view(uc: UseCases, who: Principal, party_id: str) -> PartyView:
    found: Party | None = None
    flag_rows: list[FlagRow] = []
    chains: list[ChainRow] = []
    suppliers: Counter[str] = Counter()
    names: dict[str, str] = {}
    async for item in uc.enforcement.export_evidence(who, Subject.PARTY, party_id):
        if isinstance(item, FlagRow):
            flag_rows.append(item)
        elif isinstance(item, ChainRow):
            chains.append(item)
        elif isinstance(item, Event) and item.party_id == party_id and item.kind.value == "RECEIPT":
            suppliers[item.counterparty_id] += 1
        elif isinstance(item, Party):
            names[item.party_id] = item.name
            if item.party_id == party_id:
                found = item
    if found is None:  # known to the registry (export_evidence checked) but not loaded: say so plainly
        from tracesvc.service.errors import NotFound

        raise NotFound(f"no party {party_id}")
    flag_rows.sort(key=lambda f: f.decisive_at, reverse=True)
    return PartyView(found, flag_rows, chains, suppliers.most_common(), names)


@dataclass
class BuyerView:
    token: str
    flags: list[FlagRow]
    chains: list[ChainRow]


async def buyer_view(uc: UseCases, who: Principal, number: str) -> BuyerView:
    """A buyer by insured-person number: hashed here, on arrival; audited as a person look-up by number."""
    token = privacy.buyer_token(uc.hmac_key, number)
    chains = await uc.enforcement.list_chains(who, buyer_id=number, include_inactive=True, limit=200)
    rows, _ = await flags(uc, who, FlagQuery(), FlagFilter(buyer_token=token))
    return BuyerView(token, rows, chains)


def actor(who: Principal) -> Actor:
    return Actor(who.key_id, who.role.value)


async def case_view(uc: UseCases, who: Principal, case_id: str) -> CaseView:
    await uc.enforcement.audit(who, "GetCase", f"case:{case_id}")
    return await uc.cases.get(case_id)


async def list_cases(uc: UseCases, who: Principal) -> list[CaseRow]:
    await uc.enforcement.audit(who, "ListCases", "cases")
    return await uc.cases.list_cases(case_service.store.CaseFilter(), 0, 200)


async def suggestions(uc: UseCases, who: Principal) -> list[Suggestion]:
    await uc.enforcement.audit(who, "SuggestCases", "flags", "limit=20 min_flags=3")
    return await uc.cases.suggest(limit=20, min_flags=3)


async def create_from_suggestion(uc: UseCases, who: Principal, key: str, title: str, reason: str) -> CaseView:
    from tracesvc.service.errors import NotFound

    found = next((s for s in await suggestions(uc, who) if f"{s.basis}:{s.key}" == key), None)
    if found is None:
        raise NotFound(f"no suggested case {key[:80]} (its flags may be in a case already)")
    refs = (
        [("FLAG", f) for f in found.flag_ids]
        + [("CHAIN", c) for c in found.chain_ids]
        + [("BUYER", b) for b in found.buyer_tokens]
    )
    return await uc.cases.create(
        actor(who),
        title=title or found.title,
        subject_parties=list(found.parties),
        region=found.region,
        assignee="",
        reason=reason,
        refs=refs,
    )


async def case_file(uc: UseCases, who: Principal, case_id: str) -> casefile.Rendered:
    await uc.enforcement.audit(who, "ExportCase", f"case:{case_id}")
    return await uc.cases.export_file(actor(who), case_id)


async def start_run(uc: UseCases, mode: str) -> RunInfo:
    return await uc.runs.start(Mode(mode), None, None, wait=False)


def group_by_party(rows: Sequence[FlagRow]) -> dict[str, list[FlagRow]]:
    out: dict[str, list[FlagRow]] = defaultdict(list)
    for f in rows:
        out[f.subject_party].append(f)
    return out
