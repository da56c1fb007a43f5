"""HTTP intake beside gRPC (Starlette on uvicorn, in the gRPC server's event loop): thin like the servicers.

- `POST /nhsa/v1/{infno}`: an NHSA 3501–3506 request envelope in, the NHSA response envelope out;
- `POST /epcis/capture`: an EPCIS 2.0 document; 202 + Location, `GET /epcis/capture/{id}` for per-event
  results; `GS1-Capture-Error-Behaviour: rollback` (the default, all or nothing) or `proceed`;
- `POST /epcis/events`: one EPCIS event; 201 + Location, 200 for an identical re-send (a duplicate),
  409 ResourceAlreadyExistsException when its eventID is stored with other content;
- `GET /epcis/events/{eventID}`: a captured event as stored; `OPTIONS` on every EPCIS resource.
EPCIS answers carry `GS1-EPCIS-Version` and `GS1-CBV-Version`; errors are RFC 7807
`application/problem+json` with the standard EPCIS exception types; a body that is not JSON or
JSON-LD (XML, text) is 415.
- `GET /healthz`;
- `/console/…`: the web console for inspectors and regulators (tracesvc.console), when given.
Same API keys and roles as gRPC (bearer key in `Authorization`); bodies over the limit get 413 and
documents that cannot be read get 400 naming the position and the reason.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from tracesvc.http.observe import AccessLog
from tracesvc.intake.model import DocumentError
from tracesvc.observability import logs
from tracesvc.service import errors
from tracesvc.service.access import READERS, UNRESTRICTED, WRITERS, Principal, Role
from tracesvc.service.authn import Authenticator
from tracesvc.service.intake import IntakeService, Report, Status, read_document
from tracesvc.store import faults

log = structlog.get_logger(__name__)

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"


class HttpError(Exception):
    def __init__(self, status: int, title: str, position: str = "") -> None:
        super().__init__(title)
        self.status, self.title, self.position = status, title, position


@dataclass(frozen=True)
class HttpSettings:
    auth: bool = True
    max_bytes: int = 16 * 1024 * 1024


class IntakeHttp:
    def __init__(self, intake: IntakeService, authenticator: Authenticator, settings: HttpSettings) -> None:
        self._intake, self._auth, self._settings = intake, authenticator, settings

    # -- plumbing --------------------------------------------------------------------------------

    async def _principal(self, request: Request, allowed: frozenset[Role]) -> Principal:
        if not self._settings.auth:
            return UNRESTRICTED
        header = request.headers.get("authorization", "")
        found = await self._auth.from_bearer(header[7:].strip()) if header.lower().startswith("bearer ") else None
        if found is None:
            raise HttpError(401, "missing, invalid or revoked credentials")
        if found.role not in allowed:
            raise HttpError(403, f"role {found.role.value} may not call {request.method} {request.url.path}")
        structlog.contextvars.bind_contextvars(key_id=found.key_id)
        return found

    async def _json(self, request: Request) -> Any:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._settings.max_bytes:
            raise HttpError(413, f"body of {declared} bytes; at most {self._settings.max_bytes}")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self._settings.max_bytes:
                raise HttpError(413, f"body larger than {self._settings.max_bytes} bytes")
        try:
            return read_document(bytes(body))
        except DocumentError as exc:
            raise HttpError(400, exc.reason, exc.position) from None

    # -- NHSA ------------------------------------------------------------------------------------

    async def nhsa(self, request: Request) -> Response:
        infno = request.path_params["infno"]
        refmsgid = _now().strftime("%Y%m%d%H%M%S") + secrets.token_hex(4)
        try:
            principal = await self._principal(request, WRITERS)
            message = await self._json(request)
            report = await self._intake.nhsa(message, principal, infno=infno)
        except HttpError as exc:
            return _nhsa_response(exc.status, refmsgid, f"{exc.position}: {exc.title}" if exc.position else exc.title)
        except DocumentError as exc:
            return _nhsa_response(400, refmsgid, str(exc)[:512])
        except Exception as exc:
            status, title = _failure(exc, refmsgid)
            return _nhsa_response(status, refmsgid, title)
        rows = [
            {"row": row, "position": r.position, "event_id": r.event_id, "status": r.status.value, "err_msg": r.message}
            for r in report.ordered()
            for row in (r.rows or (-1,))
        ]
        bad = [x for x in rows if x["status"] not in (Status.STORED, Status.DUPLICATE, Status.SKIPPED)]
        err = (
            f"{len(bad)} of {len(rows)} rows not stored; first: {bad[0]['position']}: {bad[0]['err_msg']}"
            if bad
            else ""
        )
        return _nhsa_response(200, refmsgid, err, {"result": rows, "counts": dict(report.counts())})

    # -- EPCIS -----------------------------------------------------------------------------------

    async def capture(self, request: Request) -> Response:
        principal = await self._principal(request, WRITERS)
        behaviour = request.headers.get("gs1-capture-error-behaviour", "rollback").strip().lower()
        if behaviour not in ("rollback", "proceed"):
            raise HttpError(
                400, "GS1-Capture-Error-Behaviour must be rollback or proceed", "GS1-Capture-Error-Behaviour"
            )
        _json_media(request)
        document = await self._json(request)
        try:
            report = await self._intake.epcis(document, principal, rollback=behaviour == "rollback")
        except DocumentError as exc:
            raise HttpError(400, exc.reason, exc.position) from None
        capture_id = await self._intake.record_capture(principal, behaviour, report)
        location = f"/epcis/capture/{capture_id}"
        return JSONResponse({"captureID": capture_id}, status_code=202, headers={**EPCIS_HEADERS, "Location": location})

    async def capture_status(self, request: Request) -> Response:
        principal = await self._principal(request, WRITERS | READERS)
        found = await self._intake.capture(principal, request.path_params["capture_id"])
        if found is None:
            raise HttpError(404, "no such capture")
        results = found.results.get("results", [])
        return JSONResponse(
            {
                "captureID": found.capture_id,
                "createdAt": found.created_at.isoformat(),
                "finishedAt": found.finished_at.isoformat() if found.finished_at else None,
                "running": found.finished_at is None,
                "success": found.success,
                "captureErrorBehaviour": found.results.get("captureErrorBehaviour"),
                "counts": found.results.get("counts", {}),
                "results": results,
                "errors": [r for r in results if r["status"] not in ("STORED", "DUPLICATE", "SKIPPED")],
            },
            headers=EPCIS_HEADERS,
        )

    async def event(self, request: Request) -> Response:
        principal = await self._principal(request, WRITERS)
        _json_media(request)
        event = await self._json(request)
        if not isinstance(event, dict):
            raise HttpError(400, "an EPCIS event is a JSON object")
        context = event.pop("@context", [EPCIS_CONTEXT])
        document = {"@context": context, "type": "EPCISDocument", "epcisBody": {"eventList": [event]}}
        try:
            report = await self._intake.epcis(document, principal, rollback=True)
        except DocumentError as exc:
            raise HttpError(400, exc.reason, exc.position) from None
        return _event_response(report)

    async def stored_event(self, request: Request) -> Response:
        principal = await self._principal(request, WRITERS | READERS)
        event_id = request.path_params["event_id"]
        found = await self._intake.stored_event(principal, event_id)
        if found is None:
            raise HttpError(404, f"no captured event {event_id[:120]} that this key may read")
        body = {"eventID": found.event_id, "recordTime": found.received_at.isoformat(), "event": found.payload}
        return JSONResponse(body, headers=EPCIS_HEADERS)


EPCIS_HEADERS = {"GS1-EPCIS-Version": "2.0.0", "GS1-CBV-Version": "2.0.0"}
_JSON_MEDIA = ("application/json", "application/ld+json")


def _json_media(request: Request) -> None:
    """EPCIS in JSON or JSON-LD only: XML, text and the rest are 415 (no body is read)."""
    media = request.headers.get("content-type", "application/json").split(";", 1)[0].strip().lower()
    if media not in _JSON_MEDIA:
        raise HttpError(415, f"{media[:60]} is not read here: send application/json or application/ld+json")


def _options(allow: str) -> Callable[[Request], Awaitable[Response]]:
    async def answer(request: Request) -> Response:
        headers = {**EPCIS_HEADERS, "Allow": allow, "Accept-Post": ", ".join(_JSON_MEDIA)}
        return Response(status_code=204, headers=headers)

    return answer


def _event_response(report: Report) -> Response:
    result = report.results[0]
    body = result.to_json()
    body["position"] = body["position"].replace("epcisBody.eventList[0]", "event")
    location = "/epcis/events/" + quote(result.event_id, safe="")
    if result.status is Status.STORED:
        return JSONResponse(body, status_code=201, headers={**EPCIS_HEADERS, "Location": location})
    if result.status is Status.DUPLICATE:  # the same event again: stored already, nothing changed
        return JSONResponse(body, status_code=200, headers={**EPCIS_HEADERS, "Location": location})
    if result.status is Status.CONFLICT:
        return _problem(409, f"event {result.event_id} already exists with other content", "event.eventID")
    if result.status is Status.DENIED:
        return _problem(403, result.message)
    if result.status is Status.SKIPPED:
        return JSONResponse(body, status_code=200, headers=EPCIS_HEADERS)
    return _problem(400, result.message, body["position"])


def _now() -> datetime:
    return datetime.now(UTC)


def _nhsa_response(status: int, refmsgid: str, err_msg: str, output: dict[str, Any] | None = None) -> Response:
    now = _now().isoformat(timespec="seconds")
    return JSONResponse(
        {
            "infcode": 0 if not err_msg else -1,
            "inf_refmsgid": refmsgid,
            "refmsg_time": now,
            "respond_time": now,
            "err_msg": err_msg,
            "output": output or {},
        },
        status_code=status,
    )


def _failure(exc: Exception, request_id: str) -> tuple[int, str]:
    """503 for a database fault or a restarting bulk lane (retry), 500 naming only a request id for
    anything else; one log line."""
    if isinstance(exc, errors.Unavailable):  # the bulk lane lost its workers: retry, as for a fault
        log.warning("http_failed", code=503, error=type(exc).__name__, request_id=request_id)
        return 503, exc.message
    if faults.classify(exc) is not None:
        log.warning("http_failed", code=503, error=type(exc).__name__, request_id=request_id)
        return 503, "database unavailable; retry with backoff"
    log.error("http_failed", code=500, error=type(exc).__name__, request_id=request_id, exc_info=exc)
    return 500, f"internal error; request id {request_id}"


def _problem(status: int, title: str, position: str = "") -> Response:
    body = {
        "type": "epcisException:"
        + {
            400: "ValidationException",
            401: "SecurityException",
            403: "SecurityException",
            404: "NoSuchResourceException",
            405: "MethodNotAllowedException",
            406: "NotAcceptableException",
            409: "ResourceAlreadyExistsException",
            413: "CaptureLimitExceededException",
            415: "UnsupportedMediaTypeException",
        }.get(status, "ImplementationException"),
        "title": title,
        "status": status,
    }
    if position:
        body["instance"] = position
    headers = dict(EPCIS_HEADERS)
    if status == HTTPStatus.UNAUTHORIZED:
        headers["WWW-Authenticate"] = "Bearer"
    if status == HTTPStatus.SERVICE_UNAVAILABLE:
        headers["Retry-After"] = "1"
    return JSONResponse(body, status_code=status, headers=headers, media_type="application/problem+json")


def _guarded(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except HttpError as exc:
            return _problem(exc.status, exc.title, exc.position)
        except Exception as exc:
            status, title = _failure(exc, logs.request_id())
            return _problem(status, title)
        finally:
            structlog.contextvars.unbind_contextvars("key_id")

    return run


async def _healthz(request: Request) -> Response:
    return JSONResponse({"status": "SERVING"})


def build_app(
    intake: IntakeService, authenticator: Authenticator, settings: HttpSettings, console: ASGIApp | None = None
) -> Starlette:
    api = IntakeHttp(intake, authenticator, settings)
    routes: list[BaseRoute] = [
        Route("/healthz", _healthz, methods=["GET"]),
        Route("/nhsa/v1/{infno}", api.nhsa, methods=["POST"]),
        Route("/epcis/capture", _guarded(api.capture), methods=["POST"]),
        Route("/epcis/capture", _options("POST, OPTIONS"), methods=["OPTIONS"]),
        Route("/epcis/capture/{capture_id}", _guarded(api.capture_status), methods=["GET"]),
        Route("/epcis/capture/{capture_id}", _options("GET, OPTIONS"), methods=["OPTIONS"]),
        Route("/epcis/events", _guarded(api.event), methods=["POST"]),
        Route("/epcis/events", _options("POST, OPTIONS"), methods=["OPTIONS"]),
        Route("/epcis/events/{event_id:path}", _guarded(api.stored_event), methods=["GET"]),
        Route("/epcis/events/{event_id:path}", _options("GET, OPTIONS"), methods=["OPTIONS"]),
    ]
    if console is not None:
        routes.append(Mount("/console", app=console))
    return Starlette(routes=routes, middleware=[Middleware(AccessLog)])
