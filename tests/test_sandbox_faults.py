"""Rate limiting, injected faults and the /_sandbox control endpoints."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

from truto_stripe_mcp.sandbox import (
    JANE_CHARGE_ID,
    SANDBOX_ACCOUNT_ID,
    SANDBOX_API_KEY,
    Fault,
    Sandbox,
    SandboxConfig,
    SandboxServer,
    create_app,
)

NOW = 1_750_000_000.0
ACCOUNT = {"integrated_account_id": SANDBOX_ACCOUNT_ID}
AUTH = {"Authorization": f"Bearer {SANDBOX_API_KEY}"}


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(now=NOW, num_customers=40, num_charges=60)) as srv:
        yield srv


@pytest.fixture
def sandbox(server: SandboxServer) -> Sandbox:
    server.sandbox.reset()
    server.sandbox.configure(
        rate_limit=None,
        rate_window=1.0,
        reset_style="delay",
        retry_after_style="seconds",
        reset_header_precision="auto",
        rate_limit_remote=False,
    )
    return server.sandbox


@pytest.fixture
def client(server: SandboxServer, sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=5.0) as c:
        yield c


def customers(client: httpx.Client) -> httpx.Response:
    return client.get("/proxy/customers", params={**ACCOUNT, "limit": 1})


def create_customer(client: httpx.Client, email: str, **kw: Any) -> httpx.Response:
    return client.post("/proxy/customers", params=ACCOUNT, json={"email": email}, **kw)


# -- rate limiting -----------------------------------------------------------------------
def test_no_rate_headers_when_unlimited(client: httpx.Client) -> None:
    response = customers(client)
    assert response.status_code == 200 and "ratelimit-limit" not in response.headers


def test_rate_limit_delay_style(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.configure(rate_limit=3, rate_window=10.0)
    responses = [customers(client) for _ in range(3)]
    tools = client.get(f"/integrated-account/{SANDBOX_ACCOUNT_ID}/tools")  # tools calls count too
    assert [r.headers["ratelimit-remaining"] for r in responses] == ["2", "1", "0"]
    assert all(r.headers["ratelimit-limit"] == "3;w=10" for r in responses)
    assert 1 <= int(responses[0].headers["ratelimit-reset"]) <= 10
    assert tools.status_code == 429
    body = tools.json()
    assert body["statusCode"] == 429 and body["error"] == "Too Many Requests"
    assert "truto_is_remote_error" not in body
    assert 1 <= int(tools.headers["retry-after"]) <= 10
    assert tools.headers["ratelimit-remaining"] == "0"
    assert sandbox.stats()["rate_limited"] == 1


def test_sub_second_window_resets(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.configure(rate_limit=2, rate_window=0.3)
    assert [customers(client).status_code for _ in range(3)] == [200, 200, 429]
    limited = customers(client)
    assert limited.headers["ratelimit-limit"] == "2;w=0.3"
    reset = float(limited.headers["ratelimit-reset"])
    retry = float(limited.headers["retry-after"])
    assert 0 < reset <= 0.3 and 0 < retry <= 0.3 and "." in limited.headers["retry-after"]
    time.sleep(retry + 0.02)
    assert customers(client).status_code == 200


def test_epoch_reset_and_http_date_retry_after(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.configure(rate_limit=1, rate_window=5.0, reset_style="epoch", retry_after_style="http-date")
    customers(client)
    limited = customers(client)
    assert limited.status_code == 429
    reset = int(limited.headers["ratelimit-reset"])
    assert time.time() < reset <= time.time() + 6
    retry_at = email.utils.parsedate_to_datetime(limited.headers["retry-after"]).timestamp()
    assert time.time() - 1 < retry_at <= time.time() + 6
    sandbox.configure(retry_after_style="none")
    assert "retry-after" not in customers(client).headers


def test_remote_rate_limit(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.configure(rate_limit=0, rate_limit_remote=True)
    body = customers(client).json()
    assert body["truto_is_remote_error"] is True and body["raw_response"]["error"]["code"] == "rate_limit"


# -- faults ------------------------------------------------------------------------------
def test_status_fault_is_consumed(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.faults.inject(Fault(status=502, resource="customers", headers={"x-fault": "1"}))
    failed = customers(client)
    assert failed.status_code == 502 and failed.headers["x-fault"] == "1"
    assert failed.json() == {
        "statusCode": 502,
        "error": "Bad Gateway",
        "message": "Injected fault",
        "details": {},
    }
    assert customers(client).status_code == 200


def test_remote_status_fault_and_matching_order(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.faults.inject(Fault(status=500, method="POST", path="/proxy/customers", remote=True, times=2))
    sandbox.faults.inject(Fault(status=503, resource="customers"))
    sandbox.faults.inject(Fault(status=504, resource="charges"))
    assert customers(client).status_code == 503  # the POST-only fault does not match a GET
    assert client.get(f"/proxy/charges/{JANE_CHARGE_ID}", params=ACCOUNT).status_code == 504
    remote = [create_customer(client, "x@example.com") for _ in range(3)]
    assert [r.status_code for r in remote] == [500, 500, 200]
    assert remote[0].json()["truto_is_remote_error"] is True
    assert remote[0].json()["raw_response"]["error"]["type"] == "api_error"
    assert sandbox.faults.pending() == []


def test_drop_after_commit_then_retry_with_same_key(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.faults.inject(Fault(drop_after_commit=True, method="POST", resource="refunds"))
    body = {"charge": JANE_CHARGE_ID, "amount": 1_000}
    headers = {"Idempotency-Key": "drop-1"}
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/proxy/refunds", params=ACCOUNT, json=body, headers=headers)
    refunds = sandbox.store.list("refunds", charge=JANE_CHARGE_ID)
    assert len(refunds) == 1  # committed although the client never saw the response
    retry = client.post("/proxy/refunds", params=ACCOUNT, json=body, headers=headers)
    assert retry.status_code == 200 and retry.headers["idempotent-replayed"] == "true"
    assert retry.json()["id"] == refunds[0]["id"]
    assert sandbox.store.count("refunds", charge=JANE_CHARGE_ID) == 1
    assert sandbox.requests_to("refunds")[0].dropped is True


def test_a_slow_write_holds_its_key_as_stripe_does(server: SandboxServer, sandbox: Sandbox) -> None:
    """While a write with an Idempotency-Key is still being processed (a ``delay`` fault), Stripe
    answers the same key with 409 ``idempotency_key_in_use``; once it is done, with its replay."""
    sandbox.faults.inject(Fault(delay=0.6, method="POST", resource="refunds"))
    body = {"charge": JANE_CHARGE_ID, "amount": 400}
    headers = {**AUTH, "Idempotency-Key": "slow-1"}
    answers: dict[str, httpx.Response] = {}

    def first() -> None:
        with httpx.Client(base_url=server.url, headers=headers, timeout=5.0) as slow:
            answers["first"] = slow.post("/proxy/refunds", params=ACCOUNT, json=body)

    async def race() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(anyio.to_thread.run_sync, first)
            while not sandbox.requests_to("refunds"):
                await anyio.sleep(0.01)
            async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=5.0) as other:
                answers["racing"] = await other.post("/proxy/refunds", params=ACCOUNT, json=body)

    anyio.run(race)
    racing = answers["racing"]
    assert racing.status_code == 409, racing.text
    assert racing.json()["raw_response"]["error"]["code"] == "idempotency_key_in_use"
    assert answers["first"].status_code == 200
    with httpx.Client(base_url=server.url, headers=headers, timeout=5.0) as later:
        again = later.post("/proxy/refunds", params=ACCOUNT, json=body)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == answers["first"].json()["id"]
    assert sandbox.store.count("refunds", charge=JANE_CHARGE_ID) == 1


def test_drop_before_commit(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.faults.inject(Fault(drop_before_commit=True, resource="customers"))
    with pytest.raises(httpx.TransportError):
        create_customer(client, "lost@example.com")
    assert sandbox.store.count("customers", email="lost@example.com") == 0


def test_delay_triggers_read_timeouts(server: SandboxServer, sandbox: Sandbox) -> None:
    sandbox.faults.inject(Fault(delay=0.3, resource="customers", method="POST", commit_before_delay=True))
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=0.1) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            create_customer(impatient, "slow@example.com")
        assert sandbox.store.count("customers", email="slow@example.com") == 1
        sandbox.faults.inject(Fault(delay=0.3, resource="customers", method="POST"))
        with pytest.raises(httpx.ReadTimeout):
            create_customer(impatient, "slower@example.com")
        assert sandbox.store.count("customers", email="slower@example.com") == 0  # not yet processed
    deadline = time.monotonic() + 1.0
    while sandbox.store.count("customers", email="slower@example.com") == 0 and time.monotonic() < deadline:
        time.sleep(0.02)  # the server finishes the request even though the client gave up
    assert sandbox.store.count("customers", email="slower@example.com") == 1


def test_in_process_drop_is_a_transport_error() -> None:
    app = create_app(SandboxConfig(now=NOW, num_customers=5, num_charges=5))
    app.state.sandbox.faults.inject(Fault(drop_after_commit=True))

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox", headers=AUTH) as c:
            with pytest.raises(httpx.RemoteProtocolError):
                await c.post("/proxy/customers", params=ACCOUNT, json={"email": "asgi@example.com"})

    anyio.run(main)
    assert app.state.sandbox.store.count("customers", email="asgi@example.com") == 1


def test_raw_body_fault_sends_bytes_with_its_own_content_type(client: httpx.Client, sandbox: Sandbox) -> None:
    page = "<html><body>proxy says hi</body></html>"
    sandbox.faults.inject(
        Fault(resource="customers", status=200, raw_body=page, headers={"content-type": "text/html"})
    )
    sandbox.faults.inject(Fault(resource="customers", status=200, raw_body=""))
    html = customers(client)
    assert html.status_code == 200 and html.text == page
    assert html.headers.get_list("content-type") == ["text/html"]
    empty = customers(client)
    assert empty.content == b"" and empty.headers["content-length"] == "0"


def test_stream_fault_is_chunked_or_cut_short_of_its_declared_length(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    sandbox.faults.inject(Fault(resource="customers", status=200, stream_bytes=200_000))
    streamed = customers(client)
    assert len(streamed.content) == 200_000 and "content-length" not in streamed.headers
    assert streamed.headers["transfer-encoding"] == "chunked"
    sandbox.faults.inject(
        Fault(resource="customers", status=200, stream_bytes=10, headers={"content-length": "1000"})
    )
    with pytest.raises(httpx.RemoteProtocolError):
        customers(client)


def test_after_commit_fault_writes_then_answers_with_the_fault(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    sandbox.faults.inject(
        Fault(method="POST", resource="customers", status=200, raw_body="<html/>", after_commit=True)
    )
    answered = create_customer(client, "kept@example.com", headers={"Idempotency-Key": "ac-1"})
    assert answered.text == "<html/>"
    assert sandbox.store.count("customers", email="kept@example.com") == 1
    replay = create_customer(client, "kept@example.com", headers={"Idempotency-Key": "ac-1"})
    assert replay.json()["email"] == "kept@example.com" and replay.headers["idempotent-replayed"] == "true"


@pytest.mark.parametrize(
    "spec",
    [
        {"raw_body": "x", "delay": 0.1},
        {"stream_bytes": 5, "drop_before_commit": True},
        {"after_commit": True, "delay": 0.1},
        {"status": 200, "raw_body": "x", "stream_bytes": 5},
        {"status": 200, "stream_bytes": -1},
    ],
)
def test_body_faults_need_a_status_and_one_body(spec: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Fault.from_dict(spec)


def test_fault_needs_an_effect() -> None:
    with pytest.raises(ValueError):
        Fault(resource="customers")


# -- control endpoints -------------------------------------------------------------------
def test_control_endpoints(server: SandboxServer, client: httpx.Client, sandbox: Sandbox) -> None:
    with httpx.Client(base_url=server.url) as anonymous:
        assert anonymous.get("/_sandbox/requests").status_code == 401
    customers(client)
    create_customer(client, "ctl@example.com")
    recorded = client.get("/_sandbox/requests").json()
    assert [r["method"] for r in recorded["result"]] == ["GET", "POST"]
    assert recorded["result"][1]["json"] == {"email": "ctl@example.com"}
    assert recorded["stats"]["total_requests"] == 2
    assert client.delete("/_sandbox/requests").json() == {"deleted": 2}
    assert client.get("/_sandbox/requests").json()["result"] == []

    spec = {"status": 503, "resource": "customers", "times": 1, "message": "blocked"}
    assert client.post("/_sandbox/faults", json=spec).status_code == 200
    assert len(client.get("/_sandbox/faults").json()["result"]) == 1
    blocked = customers(client)
    assert blocked.status_code == 503 and blocked.json()["message"] == "blocked"
    assert client.post("/_sandbox/faults", json={"bogus": 1}).status_code == 400

    config = client.post("/_sandbox/config", json={"rate_limit": 1, "rate_window": 5}).json()
    assert config["rate_limit"] == 1
    assert [customers(client).status_code for _ in range(2)] == [200, 429]
    assert client.get("/_sandbox/stats").json()["rate_limited"] == 1
    assert client.post("/_sandbox/config", json={"seed": 3}).status_code == 400
    client.post("/_sandbox/config", json={"rate_limit": None})

    assert sandbox.store.count("customers", email="ctl@example.com") == 1
    assert client.post("/_sandbox/reset", json={}).json()["reset"] is True
    assert server.sandbox.store.count("customers", email="ctl@example.com") == 0
    assert client.get("/_sandbox/stats").json()["total_requests"] == 0


# -- foreground serving (the CLI's `sandbox` command) --------------------------------------
def test_serve_announces_itself_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    from truto_stripe_mcp.sandbox import serve

    async def main() -> int:
        async with anyio.create_task_group() as tg:
            tg.start_soon(serve, SandboxConfig(now=NOW, num_customers=5, num_charges=5), "127.0.0.1", 0)
            for _ in range(200):
                await anyio.sleep(0.01)
                err = capsys.readouterr().err
                if "http://" in err:
                    break
            url = err.split("listening on ")[1].split()[0]
            assert SANDBOX_API_KEY in err and SANDBOX_ACCOUNT_ID in err
            async with httpx.AsyncClient(base_url=url, headers=AUTH) as c:
                status = (await c.get("/proxy/customers", params=ACCOUNT)).status_code
            tg.cancel_scope.cancel()
        return status

    assert anyio.run(main) == 200
    assert capsys.readouterr().out == ""  # never a byte on stdout
