"""The console's pages: sign-in, overview, flag queue and detail, look-ups, cases and runs."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import secrets
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import structlog
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tracesvc.console import charts, data, text
from tracesvc.console.data import FlagQuery, UseCases
from tracesvc.console.session import COOKIE, PRE_COOKIE, Session, same_token
from tracesvc.console.web import PageError, Web, client_of, field_list, one, read_form
from tracesvc.domain import codes
from tracesvc.service import casefile
from tracesvc.service.access import READERS, Role
from tracesvc.service.cases import CaseChange, MemberKind
from tracesvc.service.enforcement import Decision

log = structlog.get_logger(__name__)
PAGE_SIZE = 50
_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,200}")
_DIGITS = re.compile(r"[0-9]{1,12}")


class Pages:
    def __init__(self, web: Web, uc: UseCases) -> None:
        self.web, self.uc = web, uc

    # -- sign-in ---------------------------------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        token = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)
        response = self.web.render(request, "login.html", pre=token, next=_safe_next(request))
        response.set_cookie(PRE_COOKIE, token, max_age=1800, **self.web.cookie_kwargs(request))
        return response

    async def login(self, request: Request) -> Response:
        try:
            return await self._login(request)
        except PageError as exc:
            return self.web.error_page(request, exc)

    async def _login(self, request: Request) -> Response:
        client = client_of(request)
        wait = self.web.limiter.retry_after(client)
        if wait:
            raise PageError(
                429, f"登录尝试过多，请 {wait} 秒后再试。", f"Too many attempts; retry in {wait} s.", retry_after=wait
            )
        form = await read_form(request, self.web.settings)
        if not same_token(one(form, "csrf"), request.cookies.get(PRE_COOKIE)):
            raise PageError(
                403, "表单已失效（缺少 CSRF 令牌），请刷新登录页。", "The sign-in form lacks a valid CSRF token."
            )
        principal = await self.web.sign_in(request, one(form, "key"))
        if principal is None:
            self.web.limiter.failed(client)
            log.warning("console_sign_in_failed", client=client)
            return self.web.render(
                request, "login.html", 401, pre=request.cookies.get(PRE_COOKIE), next=one(form, "next"), failed=True
            )
        if principal.role not in READERS and not principal.unrestricted:
            log.warning("console_sign_in_refused", key_id=principal.key_id, role=principal.role.value)
            return self.web.render(request, "refused.html", 403, refused_role=principal.role.value)
        self.web.limiter.succeeded(client)
        session = self.web.sessions.open(principal)
        log.info("console_signed_in", key_id=principal.key_id, role=principal.role.value)
        target = one(form, "next")
        if not target.startswith(f"{_base(request)}/") or target.startswith("//"):
            target = f"{_base(request)}/overview"
        response = RedirectResponse(target, 303)
        response.set_cookie(COOKIE, session.sid, **self.web.cookie_kwargs(request))
        response.delete_cookie(PRE_COOKIE, path=f"{_base(request)}/")
        return response

    async def logout(self, request: Request, session: Session) -> Response:
        self.web.sessions.close(session.sid)
        response = RedirectResponse(f"{_base(request)}/login", 303)
        response.delete_cookie(COOKIE, path=f"{_base(request)}/")
        return response

    async def home(self, request: Request) -> Response:
        return RedirectResponse(f"{_base(request)}/overview", 303)

    # -- overview --------------------------------------------------------------------------------

    async def overview(self, request: Request, session: Session) -> Response:
        ov = await data.overview(self.uc, session.principal)
        return self.web.render(
            request,
            "overview.html",
            session=session,
            ov=ov,
            rule_chart=charts.bars([(f"{r} {k}", n) for r, k, n, _ in ov.by_rule_kind]),
            region_chart=charts.bars(ov.by_region),
            week_chart=charts.columns(ov.by_week),
        )

    # -- flags -----------------------------------------------------------------------------------

    async def flags(self, request: Request, session: Session) -> Response:
        q = flag_query(request.query_params)
        rows, cut = await data.flags(self.uc, session.principal, q)
        page = _int(request.query_params.get("page", "1"), "page", 1, 10_000)
        shown = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        held = await self.uc.cases.case_of_flags([f.flag_id for f in shown]) if shown else {}
        return self.web.render(
            request,
            "flags.html",
            session=session,
            q=q,
            params=_query_params(q),
            rows=shown,
            total=len(rows),
            cut=cut,
            page=page,
            pages=max(1, -(-len(rows) // PAGE_SIZE)),
            held=held,
            money=data.money_once(rows),
        )

    async def export(self, request: Request, session: Session) -> Response:
        fmt = request.path_params["fmt"]
        if fmt not in ("csv", "xlsx"):
            raise PageError(404, "只能导出 CSV 或 XLSX", "Exports are CSV or XLSX", "fmt")
        rows, _ = await data.flags(self.uc, session.principal, flag_query(request.query_params))
        header = ["flag_id", "rule", "kind", "severity", "status", "code", "subject_party", "region"]
        header += ["decisive_at_utc", "money_yuan", "review_note"]
        table: list[list[str]] = [
            [f.flag_id, f.rule, f.kind, f.severity, f.status, f.code, f.subject_party, f.subject_region]
            + [f.decisive_at.isoformat(), f"{f.money_fen / 100:.2f}", f.review_note]
            for f in rows
        ]
        if fmt == "csv":
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(header)
            writer.writerows([[_cell(v) for v in r] for r in table])
            body, media = ("\ufeff" + out.getvalue()).encode(), "text/csv; charset=utf-8"
        else:
            body, media = _xlsx(header, table), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        disposition = f'attachment; filename="flags.{fmt}"'
        return Response(body, media_type=media, headers={"Content-Disposition": disposition})

    async def bulk(self, request: Request, session: Session) -> Response:
        form = await read_form(request, self.web.settings)
        action = one(form, "action")
        if one(form, "scope") == "all":
            rows, _ = await data.flags(self.uc, session.principal, flag_query(form))
            ids = [f.flag_id for f in rows]
        else:
            ids = field_list(form, "flag_id")
        if not ids:
            raise PageError(400, "请至少选择一条线索", "Select at least one flag", "flag_id")
        reason = one(form, "reason")
        if not reason:
            raise PageError(400, "必须填写理由", "A reason is required", "reason")
        who = session.principal
        if action in ("CONFIRMED", "DISMISSED"):
            if who.role is not Role.REGULATOR and not who.unrestricted:
                raise PageError(403, "只有监管人员可以审核线索", "Only a REGULATOR reviews flags")
            reviewed, skipped = await self.uc.cases.review_flags(data.actor(who), ids, Decision(action).value, reason)
            return self.web.render(request, "done.html", session=session, reviewed=reviewed, skipped=skipped)
        if action == "case":
            case_id = one(form, "case_id")
            if not case_id:
                raise PageError(400, "请填写案件编号", "Give the case id", "case_id")
            await self.uc.cases.add(data.actor(who), case_id, [(MemberKind.FLAG.value, i) for i in ids], reason)
            return RedirectResponse(f"{_base(request)}/cases/{quote(case_id)}", 303)
        raise PageError(400, "未知操作", "Unknown action", "action")

    async def flag(self, request: Request, session: Session) -> Response:
        flag_id = _id(request.path_params["flag_id"], "flag_id")
        detail = await data.flag_detail(self.uc, session.principal, flag_id)
        return self.web.render(
            request,
            "flag.html",
            session=session,
            d=detail,
            f=detail.flag,
            chain_svgs=[charts.chain(c, detail.parties) for c in detail.chains],
        )

    # -- look-ups --------------------------------------------------------------------------------

    async def lookup(self, request: Request, session: Session) -> Response:
        return self.web.render(request, "lookup.html", session=session)

    async def code(self, request: Request, session: Session) -> Response:
        raw = request.query_params.get("code", "")
        if len(raw) > 200:
            raise PageError(400, "追溯码过长", "The code is too long", "code")
        value = text.scanned(raw)
        if not value:
            raise PageError(400, "请输入或扫描追溯码", "Type or scan a trace code", "code")
        try:
            history = await self.uc.enforcement.code_history(session.principal, value)
        except Exception as exc:
            if isinstance(getattr(exc, "__cause__", None), codes.CodeError):
                reason = exc.__cause__.reason  # type: ignore[union-attr]
                raise PageError(400, f"不是有效的追溯码：{reason}", f"Not a trace code: {reason}", "code") from None
            raise
        rows, _ = await data.flags(self.uc, session.principal, FlagQuery(), data.FlagFilter(code=history.canonical))
        return self.web.render(request, "code.html", session=session, h=history, flags=rows)

    async def party(self, request: Request, session: Session) -> Response:
        party_id = _id(request.path_params.get("party_id") or request.query_params.get("q", ""), "q")
        view = await data.party_view(self.uc, session.principal, party_id)
        return self.web.render(request, "party.html", session=session, v=view)

    async def buyer(self, request: Request, session: Session) -> Response:
        form = await read_form(request, self.web.settings)
        number = one(form, "number")
        if not re.fullmatch(r"[0-9A-Za-z]{6,40}", number):
            raise PageError(
                400, "参保人编号应为 6–40 位字母或数字", "An insured-person number: 6-40 letters or digits", "number"
            )
        view = await data.buyer_view(self.uc, session.principal, number)
        return self.web.render(request, "buyer.html", session=session, v=view)

    # -- cases -----------------------------------------------------------------------------------

    async def cases(self, request: Request, session: Session) -> Response:
        who = session.principal
        rows = await data.list_cases(self.uc, who)
        suggestions = await data.suggestions(self.uc, who)
        return self.web.render(request, "cases.html", session=session, rows=rows, suggestions=suggestions)

    async def create_case(self, request: Request, session: Session) -> Response:
        form = await read_form(request, self.web.settings)
        reason = one(form, "reason")
        if not reason:
            raise PageError(400, "立案必须填写理由", "Opening a case needs a reason", "reason")
        view = await data.create_from_suggestion(
            self.uc, session.principal, one(form, "suggestion"), one(form, "title"), reason
        )
        return RedirectResponse(f"{_base(request)}/cases/{quote(view.case.case_id)}", 303)

    async def case(self, request: Request, session: Session, **extra: Any) -> Response:
        case_id = _id(request.path_params["case_id"], "case_id")
        view = await data.case_view(self.uc, session.principal, case_id)
        from tracesvc.service.cases import TRANSITIONS, CaseStatus

        nexts = sorted(TRANSITIONS[CaseStatus(view.case.status)])
        return self.web.render(request, "case.html", session=session, v=view, c=view.case, nexts=nexts, **extra)

    async def case_status(self, request: Request, session: Session) -> Response:
        form = await read_form(request, self.web.settings)
        case_id = _id(request.path_params["case_id"], "case_id")
        change = CaseChange(status=one(form, "status"), review_flags=one(form, "review_flags") == "1")
        await self.uc.cases.update(data.actor(session.principal), case_id, change, one(form, "reason"))
        return RedirectResponse(f"{_base(request)}/cases/{quote(case_id)}", 303)

    async def case_members(self, request: Request, session: Session) -> Response:
        form = await read_form(request, self.web.settings)
        case_id = _id(request.path_params["case_id"], "case_id")
        kind, ref, reason = one(form, "kind") or "FLAG", one(form, "ref"), one(form, "reason")
        actor = data.actor(session.principal)
        if one(form, "remove"):
            await self.uc.cases.remove(actor, case_id, [(kind, ref)], reason)
        else:
            await self.uc.cases.add(actor, case_id, [(kind, ref)], reason)
        return RedirectResponse(f"{_base(request)}/cases/{quote(case_id)}", 303)

    async def case_file(self, request: Request, session: Session) -> Response:
        case_id = _id(request.path_params["case_id"], "case_id")
        rendered = await data.case_file(self.uc, session.principal, case_id)
        headers = {
            "Content-Disposition": f'attachment; filename="{case_id}.pdf"',
            "X-Case-File-SHA256": rendered.sha256,
        }
        return Response(rendered.pdf, media_type="application/pdf", headers=headers)

    async def case_verify(self, request: Request, session: Session) -> Response:
        form = await read_form(request, self.web.settings)
        case_id = _id(request.path_params["case_id"], "case_id")
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise PageError(400, "请选择要核验的案卷 PDF", "Choose the case file PDF to verify", "file")
        content = await upload.read()
        if not content.startswith(b"%PDF-"):
            raise PageError(400, "上传的不是 PDF 文件", "The upload is not a PDF", "file")
        digest = hashlib.sha256(content).hexdigest()
        view = await data.case_view(self.uc, session.principal, case_id)
        match = next((e for e in view.log if e.action == "EXPORTED" and f"sha256:{digest}" in e.detail), None)
        size_ok = match is not None and f"bytes:{len(content)}" in match.detail
        manifest = form.get("manifest")
        problems = await _against_manifest(manifest, content, case_id) if isinstance(manifest, UploadFile) else None
        verdict = {
            "digest": digest,
            "bytes": len(content),
            "match": match if size_ok and not problems else None,
            "problems": problems,
        }
        return await self.case(request, session, verdict=verdict)

    # -- runs ------------------------------------------------------------------------------------

    async def runs(self, request: Request, session: Session) -> Response:
        rows = await self.uc.runs.list(50, None)
        return self.web.render(request, "runs.html", session=session, rows=rows)

    async def start_run(self, request: Request, session: Session) -> Response:
        form = await read_form(request, self.web.settings)
        mode = one(form, "mode")
        if mode not in ("FULL", "INCREMENTAL"):
            raise PageError(400, "请选择全量或增量", "Choose FULL or INCREMENTAL", "mode")
        info = await data.start_run(self.uc, mode)
        return RedirectResponse(f"{_base(request)}/runs/{info.run_id}", 303)

    async def run(self, request: Request, session: Session) -> Response:
        raw = request.path_params["run_id"]
        if not _DIGITS.fullmatch(raw):
            raise PageError(404, "找不到该核查任务", "No such run")
        info = await self.uc.runs.get(int(raw))
        return self.web.render(request, "run.html", session=session, r=info)


# -- helpers -------------------------------------------------------------------------------------


async def _against_manifest(upload: UploadFile, pdf: bytes, case_id: str) -> list[str]:
    """Problems of the PDF against an uploaded manifest (`tracesvc case file`'s PDF.manifest.json)."""
    if not upload.filename:  # the optional field left empty
        return []
    try:
        manifest = json.loads(await upload.read())
        file_sha256, file_bytes = str(manifest["fileSha256"]), int(manifest["fileBytes"])
        named = str(manifest.get("caseId", ""))
    except (ValueError, KeyError, TypeError):
        raise PageError(400, "清单不是案卷清单 JSON", "The manifest is not a case file manifest", "manifest") from None
    problems = casefile.verify_file(pdf, file_sha256, file_bytes)
    if named != case_id:
        problems.append(f"manifest names case {named[:80]!r}, not {case_id}")
    return problems


def _base(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _safe_next(request: Request) -> str:
    target = request.query_params.get("next", "")
    return target if target.startswith(f"{_base(request)}/") and not target.startswith("//") else ""


def _id(value: str, name: str) -> str:
    if not _ID.fullmatch(value):
        raise PageError(404, "找不到：编号无效", "Not found: not a valid id", name)
    return value


def _int(value: str, name: str, low: int, high: int) -> int:
    if not value.isascii() or not value.isdigit() or not low <= int(value) <= high:
        raise PageError(400, f"{name} 应为 {low}–{high} 的整数", f"{name} must be a whole number {low}-{high}", name)
    return int(value)


def _date(value: str, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=text.CST)
    except ValueError:
        raise PageError(400, f"{name} 应为日期 YYYY-MM-DD", f"{name} must be a date YYYY-MM-DD", name) from None


def flag_query(params: Any) -> FlagQuery:
    """The queue's filters from a query string or a form; each value checked, a 400 naming the bad one."""

    def get(name: str, limit: int = 64) -> str:
        value = params.get(name, "")
        value = value.strip() if isinstance(value, str) else ""
        if len(value) > limit or re.search(r"[\x00-\x1f\x7f]", value):
            raise PageError(400, f"筛选条件 {name} 无效", f"Filter {name} is invalid", name)
        return value

    rule, kind, status = get("rule").upper(), get("kind").upper(), get("status").upper()
    if rule and rule not in text.RULES:
        raise PageError(400, "未知规则", "Unknown rule", "rule")
    if status and status not in ("OPEN", "CONFIRMED", "DISMISSED", "RESOLVED"):
        raise PageError(400, "未知状态", "Unknown status", "status")
    if kind and kind not in text.FINDINGS:
        raise PageError(400, "未知类型", "Unknown kind", "kind")
    region = get("region", 12)
    if region and not region.isdigit():
        raise PageError(400, "地区应为行政区划代码数字", "Region: digits of an administrative code", "region")
    money = get("min_yuan", 12)
    try:
        min_fen = int(round(float(money) * 100)) if money else 0
    except ValueError:
        raise PageError(400, "金额应为数字（元）", "Money at risk: a number of yuan", "min_yuan") from None
    if not 0 <= min_fen <= 10**12:
        raise PageError(400, "金额超出范围", "Money out of range", "min_yuan")
    date_from, date_to = _date(get("from", 10), "from"), _date(get("to", 10), "to")
    sort = get("sort") or "newest"
    if sort not in data.SORTS:
        raise PageError(400, "未知排序", "Unknown sort", "sort")
    return FlagQuery(
        rule=rule,
        kind=kind,
        status=status,
        region=region,
        party=get("party"),
        date_from=date_from,
        date_to=date_to + timedelta(days=1) if date_to else None,
        min_money_fen=min_fen,
        sort=sort,
    )


def _query_params(q: FlagQuery) -> dict[str, str]:
    to = (q.date_to - timedelta(days=1)).strftime("%Y-%m-%d") if q.date_to else ""
    return {
        "rule": q.rule,
        "kind": q.kind,
        "status": q.status,
        "region": q.region,
        "party": q.party,
        "from": q.date_from.strftime("%Y-%m-%d") if q.date_from else "",
        "to": to,
        "min_yuan": f"{q.min_money_fen / 100:g}" if q.min_money_fen else "",
        "sort": q.sort,
    }


def query_string(params: dict[str, str]) -> str:
    return urlencode({k: v for k, v in params.items() if v})


def _cell(value: object) -> object:
    """A CSV cell a spreadsheet will not run as a formula."""
    return "'" + value if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") else value


def _xlsx(header: list[str], table: list[list[str]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("flags")
    sheet.append(header)
    for row in table:
        sheet.append([_cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
