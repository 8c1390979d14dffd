"""The metrics a trading bot feeds, on the simulator: REST requests by path and outcome, market-stream reconnects,
the websocket frame delay, and the loss_quote gauge (declared but never set before)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import yaml

from otobot.config.settings import load_global
from otobot.daemon.supervisor import CredentialSource, Supervisor
from otobot.exchange import protocol as p
from otobot.ops.metrics import Metrics
from otobot.sim.server import Simulator
from otobot.store.db import Store
from tests.helpers import wait_for, write_config


@contextlib.asynccontextmanager
async def supervised(config: Path) -> AsyncIterator[Metrics]:
    """The supervisor running `config` in this process, and the metrics its bots feed."""
    settings = load_global(config)
    store = await Store.open(settings.database)
    metrics = Metrics()
    sup = Supervisor(settings, store, CredentialSource(store, None), metrics=metrics)
    task = asyncio.create_task(sup.run(install_signals=False))
    try:
        yield metrics
    finally:
        sup.request_stop()
        await asyncio.wait_for(task, 20)
        await store.close()


def failed_requests(metrics: Metrics) -> list[str]:
    """The outcomes other than ok that rest_requests_total counted (a 5xx on an order POST is UnknownOutcome)."""
    return [line.split('outcome="')[1].split('"')[0] for line in metrics.render().splitlines()
            if line.startswith("otobot_rest_requests_total{") and 'outcome="ok"' not in line]


async def test_rest_outcomes_reconnects_frame_delay_and_loss_are_exported(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 10**6}}})
    async with supervised(config) as metrics:
        await wait_for(lambda: metrics.get("rest_requests_total", user="alice", path=p.PLACE_OTO, outcome="ok") >= 2,
                       30, "two OTOs placed")
        await wait_for(lambda: 'otobot_loss_quote{user="alice"}' in metrics.render(), 30,
                       "the loss gauge set as a cycle closed")
        await sim.faults.drop_ws("market")
        await wait_for(lambda: metrics.get("ws_reconnects_total", user="alice", stream="market") >= 1, 30,
                       "the market reconnect counted")
        assert metrics.count("ws_frame_delay_seconds", user="alice", stream="market") >= 1
        sim.faults.http_error(503, count=1)  # the next request, whichever it is
        await wait_for(lambda: failed_requests(metrics), 30, "a 5xx counted by its outcome")
    assert all(o in ("ServerError", "UnknownOutcome") for o in failed_requests(metrics))  # by the error's name
    text = metrics.render()
    assert "# TYPE otobot_rest_requests_total counter" in text
    assert "# TYPE otobot_ws_frame_delay_seconds summary" in text


async def test_a_shared_price_stream_counts_its_reconnects_too(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 10**6}}})
    cfg = yaml.safe_load(config.read_text())
    cfg["exchange"]["shared_price_stream"] = True
    config.write_text(yaml.safe_dump(cfg))
    async with supervised(config) as metrics:
        await wait_for(lambda: metrics.get("rest_requests_total", user="alice", path=p.PLACE_OTO, outcome="ok") >= 1,
                       30, "an OTO placed")
        await sim.faults.drop_ws("market")
        await wait_for(lambda: metrics.get("ws_reconnects_total", user="shared", stream="market",
                                           symbol="ALPHA_22USDT") >= 1, 30, "the shared stream's reconnect counted")
