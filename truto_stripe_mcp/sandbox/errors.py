"""Error envelopes exactly as Truto returns them.

Two families, because clients must tell them apart (the retry rules differ):
Truto's own errors (auth, unknown account, unknown route) carry only the envelope;
errors Stripe produced add `truto_is_remote_error` and Stripe's body in `raw_response`.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any


def reason_phrase(status: int) -> str:
    """The standard phrase Truto puts in `error` (e.g. 404 -> "Not Found")."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def truto_envelope(status: int, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """An error Truto itself produced."""
    return {
        "statusCode": status,
        "error": reason_phrase(status),
        "message": message,
        "details": details if details is not None else {},
    }


def stripe_error_body(
    error_type: str, message: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """Stripe's own `{"error": {...}}` body, as Truto forwards it in `raw_response`."""
    error: dict[str, Any] = {"type": error_type, "code": code, "message": message, "param": param}
    if code:
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    return {"error": error}


def remote_envelope(status: int, raw_response: dict[str, Any]) -> dict[str, Any]:
    """An error that came from Stripe, wrapped by Truto."""
    message = str(raw_response.get("error", {}).get("message", reason_phrase(status)))
    body = truto_envelope(status, message)
    body["truto_is_remote_error"] = True
    body["raw_response"] = raw_response
    return body


class ApiError(Exception):
    """Raised anywhere in request handling; the app turns it into a JSON response."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body
        self.headers = headers or {}


def truto_error(status: int, message: str) -> ApiError:
    """Build (not raise) a Truto-side error."""
    return ApiError(status, truto_envelope(status, message))


def stripe_error(
    status: int,
    message: str,
    *,
    error_type: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
) -> ApiError:
    """Build (not raise) a Stripe-side error in Truto's envelope."""
    return ApiError(status, remote_envelope(status, stripe_error_body(error_type, message, code, param)))


def missing(kind: str, object_id: str, param: str = "id") -> ApiError:
    """Stripe's 404 for an unknown id: `No such customer: 'cus_x'`."""
    return stripe_error(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def invalid(message: str, *, code: str | None = None, param: str | None = None) -> ApiError:
    """Stripe's generic 400 invalid_request_error."""
    return stripe_error(400, message, code=code, param=param)
