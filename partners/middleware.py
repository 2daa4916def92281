"""Every `/v1/` response: a request id, the server's latency, JSON errors, one log line.

Outermost middleware, so the headers and the log line cover responses that other middleware
or Django itself produced (a 404 from the URL resolver, a 405, a 500).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

API_PREFIX = "/v1/"
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
log = logging.getLogger("partners.api")


def request_id(request: HttpRequest) -> str:
    given = request.headers.get("X-Request-ID", "")
    return given if REQUEST_ID.fullmatch(given) else str(uuid.uuid4())


def error_response(status: int, detail: str, **extra: object) -> JsonResponse:
    return JsonResponse({"detail": detail, **extra}, status=status)


class ApiMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        start = time.perf_counter()
        request.request_id = request_id(request)  # type: ignore[attr-defined]
        response = self._too_large(request) or self.get_response(request)
        response = self._as_json(request, response)
        latency = (time.perf_counter() - start) * 1000
        response["x-request-id"] = request.request_id  # type: ignore[attr-defined]
        response["x-latency-ms"] = f"{latency:.2f}"
        content = getattr(response, "streaming_content", None)
        if isinstance(response, StreamingHttpResponse) and isinstance(content, Iterator):
            response.streaming_content = LoggedStream(content, request, response, start, latency)
        else:
            self._log(request, response, latency)
        return response

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not request.path.startswith(API_PREFIX):
            return None
        log.exception("Unhandled error in %s %s", request.method, request.path)
        return internal_error(request)

    @staticmethod
    def _too_large(request: HttpRequest) -> HttpResponse | None:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(400, "Content-Length is not a number")
        limit = settings.PARTNERS_API_MAX_BODY_BYTES
        if length > limit:
            return error_response(413, f"Request body is {length:,} bytes; the limit is {limit:,}")
        return None

    @staticmethod
    def _as_json(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        """Errors that did not come from the API itself (404 from the URL resolver, 405,
        Django's own 500 page) become `{"detail": ...}` too."""
        if response.status_code < 400 or response.get("Content-Type", "").startswith(
            "application/json"
        ):
            return response
        if response.status_code >= 500:
            return internal_error(request)
        reason = HTTPStatus(response.status_code).phrase
        converted = error_response(response.status_code, reason)
        if response.has_header("Allow"):
            converted["Allow"] = response["Allow"]
        return converted

    @staticmethod
    def _log(
        request: HttpRequest, response: HttpResponseBase, latency: float, **extra: Any
    ) -> None:
        user = getattr(request, "auth", None) or getattr(request, "user", None)
        line = {
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "latency_ms": round(latency, 2),
            "request_id": request.request_id,  # type: ignore[attr-defined]
            "user": getattr(user, "username", None) if getattr(user, "pk", None) else None,
            **extra,
        }
        log.info(json.dumps(line))


class LoggedStream:
    """A streamed body, passed through. Its status and headers (`x-latency-ms`: the time to
    them) went out before the body was read, so its log line is written when the server
    closes the body, adding `bytes` sent, `stream_ms` (the whole time) and whether it was
    `complete`; an error while streaming is logged here with the request id and cuts the
    body short (the server drops the connection)."""

    def __init__(
        self,
        content: Iterable[bytes],
        request: HttpRequest,
        response: HttpResponseBase,
        start: float,
        latency: float,
    ) -> None:
        self.content, self.request, self.response = content, request, response
        self.start, self.latency = start, latency
        self.sent, self.complete, self.logged = 0, False, False

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self.content:
                self.sent += len(chunk)
                yield chunk
        except Exception:
            log.exception(
                "Error while streaming %s %s (request %s)",
                self.request.method,
                self.request.path,
                self.request.request_id,  # type: ignore[attr-defined]
            )
            raise
        self.complete = True

    def close(self) -> None:
        if self.logged:
            return
        self.logged = True
        elapsed = (time.perf_counter() - self.start) * 1000
        ApiMiddleware._log(
            self.request,
            self.response,
            self.latency,
            bytes=self.sent,
            stream_ms=round(elapsed, 2),
            complete=self.complete,
        )


def internal_error(request: HttpRequest) -> JsonResponse:
    rid = getattr(request, "request_id", "")
    return error_response(500, "Internal server error", request_id=rid)
