"""稽查工作台: the web console for inspectors and regulators, mounted at /console on the HTTP listener.

Server-rendered (Starlette + Jinja2), readable with JavaScript off, over the same use cases the
gRPC servicers call. See README "稽查工作台 / web console".
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tracesvc.console.data import UseCases
from tracesvc.console.pages import Pages
from tracesvc.console.web import HERE, Authenticate, ConsoleSettings, PageError, Web, security_headers
from tracesvc.service.access import Role

__all__ = ["ConsoleSettings", "UseCases", "build_console"]

REGULATOR = frozenset({Role.REGULATOR})


def build_console(uc: UseCases, authenticate: Authenticate, settings: ConsoleSettings) -> Starlette:
    web = Web(settings, authenticate)
    p = Pages(web, uc)
    page = web.page

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        if status == 405:
            return web.error_page(request, PageError(405, "不支持此请求方式", "Method not allowed"))
        return web.error_page(request, PageError(404, "找不到此页面", "No such page"))

    routes = [
        Route("/", p.home, methods=["GET"]),
        Route("/login", p.login_form, methods=["GET"]),
        Route("/login", p.login, methods=["POST"]),
        Route("/logout", page(p.logout), methods=["POST"]),
        Route("/overview", page(p.overview), methods=["GET"]),
        Route("/flags", page(p.flags), methods=["GET"]),
        Route("/flags/export.{fmt:str}", page(p.export), methods=["GET"]),
        Route("/flags/bulk", page(p.bulk), methods=["POST"]),
        Route("/flags/{flag_id:str}", page(p.flag), methods=["GET"]),
        Route("/lookup", page(p.lookup), methods=["GET"]),
        Route("/code", page(p.code), methods=["GET"]),
        Route("/party", page(p.party), methods=["GET"]),
        Route("/party/{party_id:str}", page(p.party), methods=["GET"]),
        Route("/buyer", page(p.buyer), methods=["POST"]),
        Route("/cases", page(p.cases), methods=["GET"]),
        Route("/cases", page(p.create_case), methods=["POST"]),
        Route("/cases/{case_id:str}", page(p.case), methods=["GET"]),
        Route("/cases/{case_id:str}/status", page(p.case_status), methods=["POST"]),
        Route("/cases/{case_id:str}/members", page(p.case_members), methods=["POST"]),
        Route("/cases/{case_id:str}/file.pdf", page(p.case_file), methods=["GET"]),
        Route("/cases/{case_id:str}/verify", page(p.case_verify), methods=["POST"]),
        Route("/runs", page(p.runs, REGULATOR), methods=["GET"]),
        Route("/runs", page(p.start_run, REGULATOR), methods=["POST"]),
        Route("/runs/{run_id:str}", page(p.run, REGULATOR), methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=security_headers)],
        exception_handlers={404: not_found, 405: not_found},
    )
