"""MCP over stdio on asyncio pipes: no worker thread per line read or written.

The SDK's ``stdio_server()`` reads and writes through ``anyio.wrap_file``, three thread
hops per call; measured, that was about 0.5 ms of every call's overhead and capped
concurrent throughput. Here the same framing runs on the event loop's own pipe
transports. The SDK's protection is kept: while serving, fd 0 reads the null device and
fd 1 points at stderr, so a stray ``print`` can never corrupt the wire. Anything that is
not a pipe (a regular file, a terminal) or a non-asyncio loop falls back to the SDK.

Unlike the SDK's transport, a line that is not a JSON-RPC message gets the answer JSON-RPC
2.0 prescribes (-32700 for invalid JSON, -32600 for anything else, with the request's id
when one can be read) instead of silence, so a client with a framing bug learns of it
rather than waiting forever; the next line is served as usual.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp_types as types
import sniffio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

from ..redaction import redact

LINE_LIMIT = 32 * 1024 * 1024
"""Longest line read, in bytes: one JSON-RPC message per line, and tool arguments are capped
far below this (``max_argument_bytes``). A longer line is skipped and answered -32600."""


class _Oversized(Exception):
    """A line longer than :data:`LINE_LIMIT`; its bytes were discarded, not buffered."""


async def _read_line(reader: asyncio.StreamReader) -> bytes:
    """The next line, ``b""`` at end of input; raises :class:`_Oversized` after skipping one."""
    try:
        return await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        return exc.partial  # the last line had no newline (or the input ended)
    except asyncio.LimitOverrunError as exc:
        skipped = exc.consumed
    while True:  # drop what was buffered, then the rest of the line, never holding more than the limit
        await reader.readexactly(skipped)
        try:
            await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError:
            pass
        except asyncio.LimitOverrunError as exc:
            skipped = exc.consumed
            continue
        raise _Oversized


def rejection(line: bytes | None, error: ValidationError | None = None) -> types.JSONRPCError:
    """The JSON-RPC 2.0 error answering a line that is not an MCP message.

    ``line`` is ``None`` for one longer than :data:`LINE_LIMIT`. The id is echoed when the line
    is a JSON object with a usable one (a string or an integer), else it is null, as the
    specification says.
    """
    if line is None:
        return _error(
            None, types.INVALID_REQUEST, f"Invalid Request: the line is longer than {LINE_LIMIT} bytes"
        )
    try:
        document = json.loads(line)
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        return _error(None, types.PARSE_ERROR, f"Parse error: not valid JSON ({exc})")
    except RecursionError:
        return _error(None, types.INVALID_REQUEST, "Invalid Request: the JSON is nested too deeply")
    request_id = document.get("id") if isinstance(document, dict) else None
    if type(request_id) not in (str, int):
        request_id = None
    if error is not None and any("recursion limit" in issue["msg"] for issue in error.errors()):
        # Valid JSON, but deeper than the SDK's message parser goes (about 200 levels).
        return _error(request_id, types.INVALID_REQUEST, "Invalid Request: the JSON is nested too deeply")
    return _error(request_id, types.INVALID_REQUEST, f"Invalid Request: {_what_is_wrong(document)}")


def _what_is_wrong(document: Any) -> str:
    """One sentence on why ``document`` (valid JSON) is not a JSON-RPC 2.0 message MCP accepts."""
    if isinstance(document, list):
        return "MCP does not support JSON-RPC batches; send one message per line"
    if not isinstance(document, dict):
        return "a JSON-RPC message is a JSON object"
    if document.get("jsonrpc") != "2.0":
        return '"jsonrpc" must be "2.0"'
    if "id" in document and type(document["id"]) not in (str, int):
        return '"id" must be a string or an integer (MCP forbids null)'
    if "method" in document:
        if not isinstance(document["method"], str):
            return '"method" must be a string'
        if "params" in document and not isinstance(document["params"], dict):
            return '"params" must be an object'
        return "not a valid request or notification"
    if "result" in document or "error" in document:
        return "not a valid response: it needs an id and one of result or error"
    return 'it needs a "method" (a request or notification) or a "result"/"error" (a response)'


def _mistaken_notification(message: types.JSONRPCMessage, line: bytes) -> bool:
    """A request whose id is null or not a string/integer parses as a notification (extra keys are
    ignored), and would go unanswered; MCP forbids such ids. Notifications are rare, so checking
    their raw line costs nothing on the hot path."""
    if not isinstance(message, types.JSONRPCNotification) or b'"id"' not in line:
        return False
    document = json.loads(line)
    return isinstance(document, dict) and "id" in document


def _error(request_id: str | int | None, code: int, message: str) -> types.JSONRPCError:
    return types.JSONRPCError(jsonrpc="2.0", id=request_id, error=types.ErrorData(code=code, message=message))


async def _read_messages(
    reader: asyncio.StreamReader,
    inbound: MemoryObjectSendStream[SessionMessage | Exception],
    outbound: MemoryObjectSendStream[SessionMessage],
) -> None:
    """Parse each line into a message for the server, or answer it with a JSON-RPC error."""
    async with inbound, outbound:
        while True:
            try:
                line = await _read_line(reader)
            except _Oversized:
                await outbound.send(SessionMessage(rejection(None)))
                continue
            if not line:
                return
            if not line.strip():
                continue  # a blank line is no message
            try:
                message = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
            except ValidationError as exc:
                await outbound.send(SessionMessage(rejection(line, exc)))
                continue
            if _mistaken_notification(message, line):
                await outbound.send(SessionMessage(rejection(line)))
                continue
            await inbound.send(SessionMessage(message))


async def _write_messages(
    writer: asyncio.StreamWriter, outbound: MemoryObjectReceiveStream[SessionMessage]
) -> None:
    """One compact JSON line per message, flushed before the next (the SDK's framing).

    The last boundary before the client: a secret that reached any message (a result, a
    progress note, an approval question) is masked here whatever path put it there.
    """
    async with outbound:
        async for session_message in outbound:
            text = session_message.message.model_dump_json(by_alias=True, exclude_unset=True)
            writer.write(redact(text).encode() + b"\n")
            await writer.drain()


def _is_pipe(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _usable() -> bool:
    try:
        on_asyncio = sniffio.current_async_library() == "asyncio"
    except sniffio.AsyncLibraryNotFoundError:
        return False
    return on_asyncio and sys.platform != "win32" and _is_pipe(0) and _is_pipe(1)


WAITING_NOTICE = (
    "truto-stripe-mcp is serving MCP over stdio and waiting for an MCP client to speak JSON-RPC on "
    "stdin.\nThis is not an interactive prompt: Claude Desktop, Cursor and other MCP clients start "
    "this command themselves.\nTo try the server by hand, run `truto-stripe-mcp tools` or "
    "`truto-stripe-mcp doctor`. Press Ctrl-C to stop.\n"
)
"""Said on stderr when stdin is a terminal: a person started the server, and it looks hung."""


def _tell_a_person_waiting() -> None:
    try:
        interactive = os.isatty(0)
    except OSError:
        return
    if interactive:
        sys.stderr.write(WAITING_NOTICE)
        sys.stderr.flush()


@asynccontextmanager
async def pipe_stdio_server() -> AsyncIterator[tuple[Any, Any]]:
    """The SDK's stdio streams, fed by asyncio pipes when stdin and stdout are pipes."""
    _tell_a_person_waiting()
    if not _usable():
        async with stdio_server() as streams:
            yield streams
        return
    loop = asyncio.get_running_loop()
    wire_in, wire_out = os.dup(0), os.dup(1)
    saved_in, saved_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    read_transport: asyncio.ReadTransport | None = None
    write_transport: asyncio.WriteTransport | None = None
    try:
        reader = asyncio.StreamReader(limit=LINE_LIMIT)
        read_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(wire_in, "rb", buffering=0)
        )
        write_transport, write_protocol = await loop.connect_write_pipe(
            lambda: asyncio.StreamReaderProtocol(asyncio.StreamReader()),
            os.fdopen(wire_out, "wb", buffering=0),
        )
        writer = asyncio.StreamWriter(write_transport, write_protocol, None, loop)
        inbound, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        write_stream, outbound = anyio.create_memory_object_stream[SessionMessage](0)
        async with anyio.create_task_group() as group:
            group.start_soon(_read_messages, reader, inbound, write_stream.clone())
            group.start_soon(_write_messages, writer, outbound)
            async with write_stream:
                yield read_stream, write_stream
    finally:
        for transport in (read_transport, write_transport):
            if transport is not None:
                transport.close()
        os.dup2(saved_in, 0)
        os.dup2(saved_out, 1)
        os.close(saved_in)
        os.close(saved_out)
