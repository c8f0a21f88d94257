"""The transport of a ``kind: remote`` plugin: each protocol message is one signed HTTP POST to its endpoint.

Both directions are signed with HMAC-SHA256 (hex) under the plugin's secret, which the operator sets in the
environment variable the configured manifest names (``remote.secret_setting``)::

    request   X-Pixsim-Timestamp: <unix seconds>
              X-Pixsim-Request-Id: <uuid4 hex, fresh per POST>
              X-Pixsim-Session: <the server's session, once known>
              X-Pixsim-Signature: HMAC(secret, b"<timestamp>\\n<request id>\\n<session>\\n" + body)
    response  X-Pixsim-Signature: HMAC(secret, b"<request id>\\n" + body)

The timestamp and the request id let the server refuse stale and replayed requests; the session (a random value
the server picks when it starts, named in its 409 answers) lets it refuse a conversation recorded from an earlier
process of the server, whose request ids it no longer remembers. The request id inside the response's signature
binds the answer to this one request, so a recorded answer cannot be played back for another. An answer is
believed only after its status, size and signature are checked, and then only as protocol JSON. Who the plugin
is comes from the configuration (endpoint and secret), never from anything it sends.

A remote is not restarted by the host (``restartable = False``): a failed call falls back, and the plugin's
circuit breakers decide when to stop calling it.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any, NamedTuple

import httpx

from pixsim_hooks.plugin import ConversationLost, PixsimHooksError, PluginCrashed, ProtocolError, RemoteRuntime
from pixsim_hooks.runtime._protocol import dumps, loads
from pixsim_hooks.runtime._signing import (
    REQUEST_ID_HEADER,
    SESSION,
    SESSION_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    same_signature,
    sign_request,
    sign_response,
)

__all__ = ["RemoteTransport"]

_PROBLEM_BYTES = 2048  # how much of a refusal's body is read, to quote it in the error
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]+")


class _Reply(NamedTuple):
    """One POST's outcome: its status, body (a refusal's cut short), signature header and session header."""

    status: int
    body: bytes
    signature: str
    session: str


def _quote(raw: bytes) -> str:
    """A remote's refusal, fit for a log line: printable ASCII only, short."""
    return _UNPRINTABLE.sub(" ", raw.decode("utf-8", "replace")).strip()[:200]


class RemoteTransport:
    """The :class:`~pixsim_hooks.runtime.Transport` of a remote plugin: one signed POST out, one answer back."""

    restartable = False

    def __init__(self, plugin_id: str, runtime: RemoteRuntime, secret: bytes, max_bytes: int) -> None:
        if not secret:
            raise ValueError(f"plugin {plugin_id!r}: a remote plugin needs a non-empty secret")
        self.label = plugin_id
        self.runtime = runtime
        self.max_bytes = max_bytes
        self._secret = secret
        self._timeout_s = runtime.timeout_ms / 1000
        self._url = httpx.URL(runtime.endpoint)
        # what errors show of the endpoint: never its user info or query (either may hold a credential)
        self._where = str(self._url.copy_with(userinfo=b"", query=None, fragment=None))
        self._client: httpx.AsyncClient | None = None
        self._session = ""  # the remote's session, learned from its 409 (none before the first hello)

    async def open(self) -> None:
        """Make the HTTP client (once: opening an open transport changes nothing)."""
        if self._client is not None:
            return
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self._timeout_s),  # connect, read, write and pool each
            follow_redirects=False,  # a redirect would send the signed request somewhere not configured
            trust_env=False,  # no proxy or certificate settings picked up from the environment
            headers={"Accept-Encoding": "identity", "User-Agent": "pixsim-hooks"},
        )

    async def close(self, *, kill: bool) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def describe(self) -> str:
        return f"remote ({self._where})"

    async def exchange(self, message: dict[str, Any], deadline: float | None = None) -> dict[str, Any]:
        """POST one message, answer checked; TimeoutError at ``deadline`` (loop time), the host's own deadline."""
        if deadline is None:
            return await self._exchange(message)
        async with asyncio.timeout_at(deadline):
            return await self._exchange(message)

    async def _exchange(self, message: dict[str, Any]) -> dict[str, Any]:
        client = self._client
        if client is None:
            raise PluginCrashed(f"plugin {self.label!r}: its remote connection is not open", plugin_id=self.label)
        body = dumps(message, self.max_bytes)
        request_id, reply = await self._signed_post(client, body)
        # A 409 names the remote's session. A hello sent outside it (the first one, or one to a restarted remote)
        # is sent again at once, in it; any other message fails (ConversationLost), and the greeting the host then
        # sends goes in the new session.
        if reply.status == 409 and self._adopt(reply.session) and message.get("type") == "hello":
            request_id, reply = await self._signed_post(client, body)  # once: a second 409 fails the hello
            if reply.status == 409:
                self._adopt(reply.session)
        self._check(reply.status, reply.body, reply.signature, request_id)
        return loads(reply.body, max_bytes=self.max_bytes)

    async def _signed_post(self, client: httpx.AsyncClient, body: bytes) -> tuple[str, _Reply]:
        request_id = uuid.uuid4().hex  # fresh per POST, a retry included: the remote remembers every one it took
        return request_id, await self._post(client, body, self._headers(request_id, body))

    def _headers(self, request_id: str, body: bytes) -> dict[str, str]:
        timestamp = str(int(time.time()))
        headers = {
            TIMESTAMP_HEADER: timestamp,
            REQUEST_ID_HEADER: request_id,
            SIGNATURE_HEADER: sign_request(self._secret, timestamp, request_id, self._session, body),
            "Content-Type": "application/json",
        }
        if self._session:
            headers[SESSION_HEADER] = self._session
        return headers

    def _adopt(self, session: str) -> bool:
        """Take the session a 409 named, when it is one and a new one. Unsigned, like every refusal: a forged one
        only makes the remote refuse this host's next request with the real one, which is then adopted."""
        if SESSION.fullmatch(session) is None or session == self._session:
            return False
        self._session = session
        return True

    async def _post(self, client: httpx.AsyncClient, body: bytes, headers: dict[str, str]) -> _Reply:
        """POST one message; what came back. Transport failures become PluginCrashed."""
        try:
            async with asyncio.timeout(self._timeout_s):  # the whole exchange, not each read: no trickling answers
                async with client.stream("POST", self._url, content=body, headers=headers) as response:
                    session = response.headers.get(SESSION_HEADER, "")
                    if response.status_code != 200:
                        refusal = await self._read(response, _PROBLEM_BYTES, truncate=True)
                        return _Reply(response.status_code, refusal, "", session)
                    self._check_length(response)
                    answer = await self._read(response, self.max_bytes, truncate=False)
                    return _Reply(200, answer, response.headers.get(SIGNATURE_HEADER, ""), session)
        except (TimeoutError, httpx.TimeoutException):
            raise self._crashed(f"did not answer within {self.runtime.timeout_ms:g} ms") from None
        except httpx.HTTPError as exc:
            raise self._crashed(f"is unreachable ({type(exc).__name__}: {str(exc)[:200]})") from None

    def _check_length(self, response: httpx.Response) -> None:
        declared = response.headers.get("Content-Length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > self.max_bytes:
            raise self._broke(f"announced an answer of {declared} bytes, over the {self.max_bytes}-byte cap")

    async def _read(self, response: httpx.Response, limit: int, *, truncate: bool) -> bytes:
        """The body, but never more than ``limit`` bytes of it: past that, cut (a refusal) or refuse (an answer)."""
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                if truncate:
                    chunks.append(chunk[: limit - size])
                    break
                raise self._broke(f"sent an answer over the {limit}-byte cap")
            chunks.append(chunk)
        return b"".join(chunks)

    def _check(self, status: int, answer: bytes, signature: str, request_id: str) -> None:
        if status != 200:
            raise self._refused(status, _quote(answer))
        if not same_signature(signature, sign_response(self._secret, request_id, answer)):
            raise self._broke(
                "sent an answer that is not signed for this request (forged, replayed or signed with another "
                f"secret); refused. Check {self.runtime.secret_setting}"
            )

    def _refused(self, status: int, detail: str) -> PixsimHooksError:
        """The error for a non-200 answer: a refusal is the protocol's (ProtocolError), an outage a crash."""
        quoted = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
        if status in (401, 403):
            return self._broke(
                f"refused this host's signature ({quoted}); {self.runtime.secret_setting} must hold the secret "
                "the remote was given, and both clocks must be right"
            )
        if status == 409:  # the remote lost this conversation (it restarted): the host greets it again
            what = f"no longer knows this host ({quoted}); it is greeted again on the next call"
            return ConversationLost(f"plugin {self.label!r}: the remote at {self._where} {what}", plugin_id=self.label)
        if status >= 500:
            return self._crashed(f"failed ({quoted})")
        if 300 <= status < 400:
            return self._broke(f"answered with a redirect ({quoted}); redirects are not followed")
        return self._broke(f"refused the request ({quoted})")

    def _crashed(self, what: str) -> PluginCrashed:
        return PluginCrashed(f"plugin {self.label!r}: the remote at {self._where} {what}", plugin_id=self.label)

    def _broke(self, what: str) -> ProtocolError:
        return ProtocolError(f"plugin {self.label!r}: the remote at {self._where} {what}", plugin_id=self.label)
