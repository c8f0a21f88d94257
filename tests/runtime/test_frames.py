"""The host's end of a child's socket (``_sandbox._Frames``), fed bytes directly: frames only as answers to what the
host sent (red-team 24, 38), the size cap at the header (18). The sandboxed versions of these attacks, by real
children, are in ``test_hostile_answers.py`` and ``test_sandbox.py``; here each arrival order is pinned down."""

from __future__ import annotations

import asyncio
import json
import struct

import pytest

from pixsim_hooks.plugin import ProtocolError
from pixsim_hooks.runtime._sandbox import _Frames

CAP = 4096


def frame(message: dict[str, object]) -> bytes:
    body = json.dumps(message).encode()
    return struct.pack(">I", len(body)) + body  # spec 2.1: 4-byte big-endian length, then the body


PONG = frame({"type": "pong", "id": 7})
FORGED = frame({"type": "pong", "id": 8})


class Socket:
    """What ``_Frames`` sees of its transport: whether reading was paused."""

    def __init__(self) -> None:
        self.paused = False

    def pause_reading(self) -> None:
        self.paused = True

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


def channel() -> tuple[_Frames, Socket, list[ProtocolError]]:
    reported: list[ProtocolError] = []
    frames = _Frames(CAP, reported.append)
    sock = Socket()
    frames.connection_made(sock)  # type: ignore[arg-type]
    return frames, sock, reported


async def next_frame(frames: _Frames) -> bytes:
    loop = asyncio.get_running_loop()
    return await frames.next_frame(loop.time() + 5)  # a bound for a test that fails, never reached when it passes


async def test_an_answer_to_what_was_sent_is_read_even_in_pieces() -> None:
    frames, sock, reported = channel()
    frames.expect()
    for piece in (PONG[:1], PONG[1:3], PONG[3:9], PONG[9:]):
        frames.data_received(piece)
    assert json.loads(await next_frame(frames)) == {"type": "pong", "id": 7}
    assert (sock.paused, reported, frames.received) == (False, [], len(PONG))


async def test_a_frame_before_anything_was_asked_is_reported_at_once_and_reading_stops() -> None:
    frames, sock, reported = channel()
    frames.data_received(FORGED[:4])  # the header alone: judged before its body even arrives
    assert sock.paused
    assert [str(e) for e in reported] == ["sent a frame nobody asked for (no answer was awaited)"]
    frames.expect()  # a host that asked anyway, afterwards, gets the violation, not the frame
    frames.data_received(FORGED[4:])
    with pytest.raises(ProtocolError, match="nobody asked for"):
        await next_frame(frames)


async def test_a_second_frame_in_the_same_read_as_the_answer_discards_both_and_is_raised_not_reported() -> None:
    frames, sock, reported = channel()
    frames.expect()
    frames.data_received(PONG + FORGED)
    with pytest.raises(ProtocolError, match="nobody asked for"):
        await next_frame(frames)  # not the pong: it came with the violation
    assert sock.paused and reported == []  # the exchange in progress raised it: reported once, by the call


async def test_a_second_frame_after_the_answer_was_taken_is_reported() -> None:
    frames, sock, reported = channel()
    frames.expect()
    frames.data_received(PONG)
    assert json.loads(await next_frame(frames))["id"] == 7
    frames.data_received(FORGED)  # the host awaits nothing now
    assert sock.paused and [type(e) for e in reported] == [ProtocolError]


async def test_one_answer_is_owed_per_message_sent() -> None:
    frames, _, reported = channel()
    for request_id in (1, 2, 3):
        frames.expect()
        frames.data_received(frame({"type": "pong", "id": request_id}))
        assert json.loads(await next_frame(frames))["id"] == request_id
    assert reported == []


async def test_a_header_over_the_cap_is_refused_before_its_body() -> None:
    frames, sock, reported = channel()
    frames.expect()
    frames.data_received(struct.pack(">I", 100 << 20) + b"[" * 1000)
    with pytest.raises(ProtocolError, match=f"sent a frame of {100 << 20} bytes \\(cap {CAP}\\)"):
        await next_frame(frames)
    frames.data_received(b"[" * 100_000)  # what the child goes on writing is not even counted
    assert sock.paused and frames.received == 1004 and reported == []


async def test_a_stopped_channel_reports_nothing_of_a_dying_child() -> None:
    frames, sock, reported = channel()
    frames.stop()
    frames.data_received(FORGED)
    assert (sock.paused, reported, frames.received) == (False, [], 0)
