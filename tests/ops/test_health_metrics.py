"""The localhost /health and /metrics endpoints, and the Prometheus text the registry renders."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from otobot.ops.health import HealthServer
from otobot.ops.metrics import Metrics

# One sample line of the text exposition format: name, optional {label="value",...}, a float.
SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? '
                    r"(-?[0-9.e+-]+|[+-]Inf|NaN)$")


def trading_metrics() -> Metrics:
    m = Metrics()
    m.inc("orders_placed_total", user="alice")
    m.inc("orders_placed_total", user="alice")
    m.inc("orders_placed_total", user="bob")
    m.inc("orders_failed_total", user="alice", reason="insufficient_balance")
    m.inc("fills_total", 3, user="alice")
    m.observe("cycle_seconds", 12.5)
    m.observe("cycle_seconds", 7.5)
    m.inc("ws_reconnects_total", user="alice", stream="user")
    m.observe("rest_latency_seconds", 0.25, path="/bapi/asset/v1/private/alpha-trade/oto-order/place")
    m.observe("rest_latency_seconds", 0.5, path="/bapi/asset/v1/private/alpha-trade/oto-order/place")
    m.set("volume_quote", 1234.5, user="alice")
    m.set("loss_quote", 0.75, user="alice")
    return m


def assert_valid_exposition(text: str) -> None:
    assert text.endswith("\n")
    typed: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "summary", "untyped")
            typed.add(name)
            continue
        assert SAMPLE.match(line), f"not a valid sample line: {line!r}"
        base = re.sub(r"(_sum|_count)$", "", line.split("{")[0].split(" ")[0])
        assert base in typed, f"sample before its TYPE: {line!r}"


def test_render_has_help_type_and_labelled_samples() -> None:
    text = trading_metrics().render()

    assert_valid_exposition(text)
    lines = text.splitlines()
    assert "# TYPE otobot_orders_placed_total counter" in lines
    assert 'otobot_orders_placed_total{user="alice"} 2.0' in lines
    assert 'otobot_orders_placed_total{user="bob"} 1.0' in lines
    assert 'otobot_orders_failed_total{reason="insufficient_balance",user="alice"} 1.0' in lines
    assert 'otobot_fills_total{user="alice"} 3.0' in lines
    assert "# TYPE otobot_cycle_seconds summary" in lines
    assert "otobot_cycle_seconds_sum 20.0" in lines and "otobot_cycle_seconds_count 2" in lines
    assert 'otobot_ws_reconnects_total{stream="user",user="alice"} 1.0' in lines
    path = "/bapi/asset/v1/private/alpha-trade/oto-order/place"
    assert f'otobot_rest_latency_seconds_sum{{path="{path}"}} 0.75' in lines
    assert f'otobot_rest_latency_seconds_count{{path="{path}"}} 2' in lines
    assert "# TYPE otobot_volume_quote gauge" in lines
    assert 'otobot_volume_quote{user="alice"} 1234.5' in lines
    assert 'otobot_loss_quote{user="alice"} 0.75' in lines
    assert lines.index("# HELP otobot_fills_total Fills recorded, by user.") < lines.index(
        'otobot_fills_total{user="alice"} 3.0')


def test_gauges_replace_counters_add_and_get_reads_back() -> None:
    m = Metrics()
    m.set("volume_quote", 10, user="a")
    m.set("volume_quote", 4, user="a")
    m.inc("bot_restarts_total", user="a")
    m.inc("bot_restarts_total", 2.0, user="a")

    assert m.get("volume_quote", user="a") == 4.0
    assert m.get("bot_restarts_total", user="a") == 3.0
    assert m.get("fills_total", user="nobody") == 0.0


def test_label_values_are_escaped_and_odd_values_stay_valid() -> None:
    m = Metrics()
    m.inc("orders_failed_total", user='ali"ce', reason="line1\nline2 \\ end")
    m.set("loss_quote", float("inf"), user="x")
    m.set("custom_gauge", float("nan"))

    text = m.render()

    assert_valid_exposition(text)
    assert 'otobot_orders_failed_total{reason="line1\\nline2 \\\\ end",user="ali\\"ce"} 1.0' in text
    assert 'otobot_loss_quote{user="x"} +Inf' in text
    assert "# TYPE otobot_custom_gauge gauge" in text and "otobot_custom_gauge NaN" in text


def test_invalid_names_are_refused() -> None:
    m = Metrics()

    with pytest.raises(ValueError, match="not a valid Prometheus metric name"):
        m.inc("orders placed")
    with pytest.raises(ValueError, match="not a valid Prometheus label name"):
        m.inc("fills_total", 1.0, **{"user-name": "a"})


def test_empty_registry_renders_nothing() -> None:
    assert Metrics().render() == ""


class Check:
    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def __call__(self) -> dict[str, Any]:
        return self.body


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_health_and_metrics_over_http(client: aiohttp.ClientSession) -> None:
    check = Check({"ok": True, "users": {"alice": "trading"}})
    server = HealthServer(check, trading_metrics(), port=0)
    await server.start()
    try:
        assert server.port > 0
        async with client.get(f"http://127.0.0.1:{server.port}/health") as r:
            assert r.status == 200
            assert await r.json() == {"ok": True, "users": {"alice": "trading"}}
        check.body = {"ok": False, "users": {"alice": "auth_expired"}}
        async with client.get(server.url + "/health") as r:
            assert r.status == 503
            assert await r.json() == {"ok": False, "users": {"alice": "auth_expired"}}
        async with client.get(server.url + "/metrics") as r:
            assert r.status == 200
            assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
            text = await r.text()
        assert_valid_exposition(text)
        assert 'otobot_orders_placed_total{user="alice"} 2.0' in text
    finally:
        await server.stop()
    with pytest.raises(aiohttp.ClientConnectionError):
        async with client.get(server.url + "/health"):
            pass


async def test_async_health_check_and_a_failing_check_is_503(client: aiohttp.ClientSession) -> None:
    calls = 0

    async def health() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise RuntimeError("store closed")
        return {"ok": True}

    server = HealthServer(health, Metrics(), port=0)
    await server.start()
    try:
        async with client.get(server.url + "/health") as r:
            assert (r.status, await r.json()) == (200, {"ok": True})
        async with client.get(server.url + "/health") as r:
            assert (r.status, await r.json()) == (503, {"ok": False, "error": "store closed"})
    finally:
        await server.stop()


def test_only_loopback_is_allowed() -> None:
    with pytest.raises(ValueError, match="binds loopback only"):
        HealthServer(Check({"ok": True}), Metrics(), port=0, host="0.0.0.0")


async def test_a_trading_bot_feeds_the_metrics(tmp_path: Path) -> None:
    """Through the real supervisor and simulator: orders, fills, REST latency and cycle durations are counted."""
    from otobot.config.settings import load_global
    from otobot.daemon.supervisor import CredentialSource, Supervisor
    from otobot.ops.metrics import Metrics
    from otobot.sim.config import default_sim_config
    from otobot.sim.server import Simulator
    from otobot.store.db import Store
    from tests.helpers import wait_for, write_config

    sim = Simulator(default_sim_config(users=1, seed=2))
    await sim.start()
    try:
        config = write_config(tmp_path, sim, {"alice": {"target": {"value": 40}}})
        settings = load_global(config)
        store = await Store.open(settings.database)
        metrics = Metrics()
        sup = Supervisor(settings, store, CredentialSource(store, None), metrics=metrics)
        task = asyncio.create_task(sup.run(install_signals=False))
        await wait_for(lambda: metrics.count("cycle_seconds", user="alice") >= 2, 30, "two cycles measured")
        sup.request_stop()
        await task
        await store.close()
    finally:
        await sim.stop()
    text = metrics.render()
    assert metrics.get("orders_placed_total", user="alice") >= 2
    assert metrics.get("fills_total", user="alice") >= 4
    assert 'otobot_rest_latency_seconds_count{path="/bapi/asset/v1/private/alpha-trade/oto-order/place"' in text
    assert "otobot_cycle_seconds_sum" in text
