"""The console's plumbing: settings, templates, the page guard (session, role, CSRF), form limits,
security headers and the error pages. The pages themselves are in `pages.py`."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode

import structlog
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from tracesvc.console import text
from tracesvc.console.session import COOKIE, LoginLimiter, Session, Sessions, same_token
from tracesvc.observability import logs
from tracesvc.service import errors
from tracesvc.service.access import READERS, UNRESTRICTED, Principal, Role

log = structlog.get_logger(__name__)
HERE = Path(__file__).parent
LANG_COOKIE = "tracesvc_lang"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class ConsoleSettings:
    auth: bool = True
    secure_cookies: bool = False  # on when the listener is behind TLS
    idle_s: float = 30 * 60.0
    absolute_s: float = 8 * 3600.0
    login_attempts: int = 5
    login_window_s: float = 300.0
    max_form_bytes: int = 256 * 1024
    max_upload_bytes: int = 64 * 1024 * 1024


class Authenticate(Protocol):
    """What the console needs of the key store: a bearer key's principal (tracesvc.service.authn.Authenticator)."""

    async def from_bearer(self, token: str) -> Principal | None: ...


class PageError(Exception):
    """A page the person gets instead of the one asked for: 400 (naming the field), 403, 404, 409, 429."""

    def __init__(self, status: int, zh: str, en: str, field_name: str = "", retry_after: int = 0) -> None:
        super().__init__(en)
        self.status, self.zh, self.en, self.field = status, zh, en, field_name
        self.retry_after = retry_after


@dataclass
class Web:
    settings: ConsoleSettings
    authenticate: Authenticate
    sessions: Sessions = field(init=False)
    limiter: LoginLimiter = field(init=False)
    env: Environment = field(init=False)

    def __post_init__(self) -> None:
        self.sessions = Sessions(idle=self.settings.idle_s, absolute=self.settings.absolute_s)
        self.limiter = LoginLimiter(self.settings.login_attempts, self.settings.login_window_s)
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(
            when=text.when,
            day=text.day,
            yuan=text.yuan,
            short=text.short,
            RULES=text.RULES,
            FINDINGS=text.FINDINGS,
            STATUSES=text.STATUSES,
            EVENT_KINDS=text.EVENT_KINDS,
        )

    # -- rendering -------------------------------------------------------------------------------

    def render(
        self, request: Request, template: str, status: int = 200, session: Session | None = None, **ctx: Any
    ) -> HTMLResponse:
        lang = language(request)

        def tr(zh: str, en: str) -> str:
            return en if lang == "en" else zh

        def pair(table: dict[str, tuple[str, str]], key: str) -> str:
            return text.pick(lang, table.get(key), key)

        def link(path: str, **params: Any) -> str:
            query = urlencode([(k, v) for k, v in params.items() if v not in (None, "")])
            return f"{base(request)}{path}" + (f"?{query}" if query else "")

        def switch(to: str) -> str:
            params = [(k, v) for k, v in parse_qsl(request.url.query) if k != "lang"] + [("lang", to)]
            return f"{request.url.path}?{urlencode(params)}"

        body = self.env.get_template(template).render(
            request=request,
            base=base(request),
            lang=lang,
            L=tr,
            T=pair,
            link=link,
            switch=switch,
            session=session,
            role=session.principal.role.value if session else "",
            csrf=session.csrf if session else "",
            **ctx,
        )
        response = HTMLResponse(body, status_code=status)
        if "lang" in request.query_params and request.query_params["lang"] in ("zh", "en"):
            response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict", httponly=True)
        return response

    def error_page(self, request: Request, exc: PageError, session: Session | None = None) -> HTMLResponse:
        response = self.render(request, "error.html", exc.status, session, error=exc)
        if exc.retry_after:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    # -- the guard -------------------------------------------------------------------------------

    def cookie_kwargs(self, request: Request) -> dict[str, Any]:
        """The console's cookies go back to the console only (not to the intake beside it)."""
        return {
            "httponly": True,
            "samesite": "strict",
            "secure": self.settings.secure_cookies,
            "path": f"{base(request)}/",
        }

    def page(
        self, handler: Callable[[Request, Session], Awaitable[Response]], roles: frozenset[Role] = READERS
    ) -> Callable[[Request], Awaitable[Response]]:
        """A page for signed-in officers of `roles`: unsigned GETs go to the sign-in page, every POST
        must carry the session's CSRF token, and refusals and failures become pages, never traces."""

        async def run(request: Request) -> Response:
            session = self.sessions.get(request.cookies.get(COOKIE))
            try:
                if session is None:
                    if request.method == "GET":
                        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                        return RedirectResponse(f"{base(request)}/login?{urlencode({'next': target})}", 303)
                    raise PageError(403, "未登录或会话已过期，请重新登录。", "Not signed in, or the session expired.")
                if request.method == "POST":
                    await self.check_csrf(request, session.csrf)
                if session.principal.role not in roles and not session.principal.unrestricted:
                    raise PageError(
                        403,
                        f"{session.principal.role.value} 角色不能执行此操作。",
                        f"The {session.principal.role.value} role may not do this.",
                    )
                return await handler(request, session)
            except PageError as exc:
                return self.error_page(request, exc, session)
            except Exception as exc:
                return self.error_page(request, as_page_error(exc), session)

        return run

    async def check_csrf(self, request: Request, expected: str) -> None:
        sent = request.headers.get("x-csrf-token") or (await read_form(request, self.settings)).get("csrf", "")
        if not same_token(str(sent), expected):
            raise PageError(403, "表单已失效（缺少 CSRF 令牌），请返回重试。", "The form lacks a valid CSRF token.")

    async def sign_in(self, request: Request, key: str) -> Principal | None:
        if not self.settings.auth:
            return UNRESTRICTED
        return await self.authenticate.from_bearer(key.strip())


def base(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def language(request: Request) -> str:
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or "zh"
    return "en" if asked == "en" else "zh"


def client_of(request: Request) -> str:
    return request.client.host if request.client else "?"


def as_page_error(exc: Exception) -> PageError:
    """A use case's refusal as a page; anything else a 500 naming only a request id (and one log line)."""
    if isinstance(exc, errors.NotFound):
        return PageError(404, "找不到：" + str(exc)[:120], "Not found: " + str(exc)[:120])
    if isinstance(exc, errors.InvalidArgument):
        violations = getattr(exc, "violations", ())
        name = violations[0].field if violations else ""
        why = violations[0].description if violations else str(exc)
        return PageError(400, f"输入有误：{name} {why}", f"Invalid input: {name} {why}", name)
    if isinstance(exc, errors.PermissionDenied):
        return PageError(403, "无权执行：" + str(exc)[:300], "Not allowed: " + str(exc)[:300])
    if isinstance(exc, errors.FailedPrecondition):
        return PageError(409, "无法执行：" + str(exc)[:300], "Refused: " + str(exc)[:300])
    request_id = logs.request_id()
    log.error("console_failed", error=type(exc).__name__, request_id=request_id, exc_info=exc)
    return PageError(500, f"内部错误，请求编号 {request_id}", f"Internal error; request id {request_id}")


# -- forms ---------------------------------------------------------------------------------------

FIELD_LIMIT = 2000
FIELD_LIMITS = {"code": 200, "q": 200, "number": 40, "title": 200, "key": 200}


async def read_form(request: Request, settings: ConsoleSettings) -> dict[str, Any]:
    """The form, read once per request and checked: size, field count, lengths and control characters;
    a 400 naming the field otherwise. Multi-valued fields become lists; an upload stays an UploadFile."""
    cached = request.scope.get("console.form")
    if cached is not None:
        return dict(cached)
    multipart = request.headers.get("content-type", "").startswith("multipart/form-data")
    limit = settings.max_upload_bytes if multipart else settings.max_form_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PageError(
            400, f"提交内容过大（上限 {limit} 字节）", f"The form is too large (limit {limit} bytes)", "body"
        )
    try:
        raw = await request.form(max_files=2, max_fields=2000, max_part_size=limit)
    except Exception as exc:
        raise PageError(400, "表单无法解析", f"The form cannot be read: {str(exc)[:80]}", "body") from None
    out: dict[str, Any] = {}
    for name, value in raw.multi_items():
        if len(name) > 64 or _CONTROL.search(name):
            raise PageError(400, "表单字段名无效", "Invalid field name", name[:64])
        if isinstance(value, UploadFile):
            out[name] = value
            continue
        problem = _field_problem(name, value)
        if problem:
            raise PageError(400, f"字段 {name}：{problem[0]}", f"Field {name}: {problem[1]}", name)
        if name in out:
            prior = out[name]
            out[name] = [*prior, value] if isinstance(prior, list) else [prior, value]
        else:
            out[name] = value
    request.scope["console.form"] = out
    return dict(out)


def _field_problem(name: str, value: str) -> tuple[str, str] | None:
    limit = FIELD_LIMITS.get(name, FIELD_LIMIT)
    if len(value) > limit:
        return f"超过 {limit} 个字符", f"longer than {limit} characters"
    allowed = value.replace("\x1d", "") if name == "code" else value  # GS: the GS1 separator a scanner sends
    if _CONTROL.search(allowed):
        return "含有控制字符", "contains control characters"
    return None


def field_list(form: dict[str, Any], name: str) -> list[str]:
    value = form.get(name, [])
    values = value if isinstance(value, list) else [value]
    return [v.strip() for v in values if isinstance(v, str) and v.strip()]


def one(form: dict[str, Any], name: str) -> str:
    value = form.get(name, "")
    if isinstance(value, list):
        raise PageError(400, f"字段 {name} 只能有一个值", f"Field {name} takes one value", name)
    return value.strip() if isinstance(value, str) else ""


async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    response = await call_next(request)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    if not request.url.path.startswith(f"{base(request)}/static/"):
        response.headers["Cache-Control"] = "no-store"  # evidence is never left in a shared cache
    return response
