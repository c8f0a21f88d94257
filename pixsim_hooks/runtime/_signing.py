"""The signatures of remote plugin messages (HMAC-SHA256, hex, under the plugin's secret): both directions.

::

    request   X-Pixsim-Timestamp: <unix seconds>
              X-Pixsim-Request-Id: <uuid4 hex, fresh per POST>
              X-Pixsim-Session: <the server's session, 32 hex digits; absent until the host learned it>
              X-Pixsim-Signature: HMAC(secret, b"<timestamp>\\n<request id>\\n<session>\\n" + body)
    response  X-Pixsim-Signature: HMAC(secret, b"<request id>\\n" + body)

The session is a random value the server picks when it starts and names in its 409 answers: a request signed for
another session (a recording of an earlier server process's conversation) is never delivered, however fresh its
timestamp, although the restarted server remembers none of the request ids it saw before.

Standard library only: the host's transport and the plugin's server both sign with these.
"""

from __future__ import annotations

import hashlib
import hmac
import re

__all__ = [
    "REQUEST_ID_HEADER",
    "SESSION",
    "SESSION_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "same_signature",
    "sign_request",
    "sign_response",
]

SIGNATURE_HEADER = "X-Pixsim-Signature"
TIMESTAMP_HEADER = "X-Pixsim-Timestamp"
REQUEST_ID_HEADER = "X-Pixsim-Request-Id"
SESSION_HEADER = "X-Pixsim-Session"
SESSION = re.compile(r"[0-9a-f]{32}", re.ASCII)
"""A session's form (use ``fullmatch``): 32 lowercase hex digits, 128 random bits."""


def sign_request(secret: bytes, timestamp: str, request_id: str, session: str, body: bytes) -> str:
    """The request signature: hex HMAC-SHA256 of ``"<timestamp>\\n<request id>\\n<session>\\n"`` and the body
    (``session`` is empty when the request carries none)."""
    prefix = f"{timestamp}\n{request_id}\n{session}\n".encode()
    return hmac.new(secret, prefix + body, hashlib.sha256).hexdigest()


def sign_response(secret: bytes, request_id: str, body: bytes) -> str:
    """The response signature: hex HMAC-SHA256 of ``"<request id>\\n"`` and the body."""
    return hmac.new(secret, f"{request_id}\n".encode() + body, hashlib.sha256).hexdigest()


def same_signature(received: str, expected: str) -> bool:
    # bytes, so a header with non-ASCII characters is simply unequal (compare_digest refuses non-ASCII str)
    return hmac.compare_digest(received.encode("utf-8", "surrogateescape"), expected.encode())
