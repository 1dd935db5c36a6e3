"""The hub's webhook protocol: how a department system signs the change notices it pushes.

A department that can notify POSTs a JSON body to ``/webhooks/{department}``
with two headers:

- ``X-OneMatter-Event-Id``: the department's id of this notice (1-128 plain
  characters). The hub acts on an id once; a repeat is answered but ignored.
- ``X-OneMatter-Signature: t=<unix seconds>,v1=<hex>`` where ``hex`` is the
  HMAC-SHA256, under the department's own shared secret, of
  ``"<t>.<event id>.".encode() + body``. The hub refuses a timestamp further
  than its tolerance (300 s by default) from its own clock, so a captured
  notice cannot be replayed later.

Both sides use :func:`signature`; nothing here knows HTTP.
"""

from __future__ import annotations

import hashlib
import hmac
import re

SIGNATURE_HEADER = "X-OneMatter-Signature"
EVENT_ID_HEADER = "X-OneMatter-Event-Id"
EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")
_SIGNATURE = re.compile(r"t=(\d{1,12}),v1=([0-9a-f]{64})")


def signature(secret: str, timestamp: int, event_id: str, body: bytes) -> str:
    """The ``X-OneMatter-Signature`` header value for ``body``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{event_id}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def parse_signature(value: str) -> tuple[int, str] | None:
    """(timestamp, hex digest) of a header value, or None when it is not shaped right."""
    match = _SIGNATURE.fullmatch(value.strip())
    return (int(match.group(1)), match.group(2)) if match else None


def verify(
    secret: str, header: str, event_id: str, body: bytes, *, now: float, tolerance_s: float
) -> str | None:
    """None when the signature holds; else why not (safe to tell the caller)."""
    parsed = parse_signature(header)
    if parsed is None:
        return f"{SIGNATURE_HEADER} must be 't=<unix seconds>,v1=<64 hex digits>'"
    timestamp, _ = parsed
    if abs(now - timestamp) > tolerance_s:
        return f"the signature's timestamp is more than {tolerance_s:g} s from the hub's clock"
    expected = signature(secret, timestamp, event_id, body)
    if not hmac.compare_digest(expected.encode(), header.strip().encode()):
        return "the signature does not verify"
    return None
