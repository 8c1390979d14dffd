"""The dashboard's JSON endpoints against a running supervisor and the simulator: the same rows the CLI prints."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from otobot.sim.server import Simulator
from otobot.store.db import Store
from otobot.trading import daybook as points
from otobot.views import history, reports
from otobot.views.audit import KINDS, audit_entries
from tests.conftest import TEST_SECRETS
from tests.helpers import cycles_done, wait_for, write_config
from tests.web.webkit import served

USERS = {"alice": {"target": {"value": 10**6}}, "bob": {"target": {"value": 10**6}},
         "carol": {"target": {"value": 10**6}, "enabled": False}}


async def traded(store: Store, user: str) -> bool:
    return any(c["state"] == "done" and c["bought"] != "0" and c["sold"] != "0"
               for c in await reports.cycle_rows(store, user))


def by_user(doc: Any) -> dict[str, dict[str, Any]]:
    return {r["user"]: r for r in doc["users"]}


async def test_the_overview_names_every_user_with_the_rows_status_json_prints(sim: Simulator, tmp_path: Path) -> None:
    async with served(write_config(tmp_path, sim, USERS)) as s:
        d = s.daemon
        await wait_for(lambda: cycles_done(d.store, "alice"), 30, "alice's first cycle")
        await wait_for(lambda: cycles_done(d.store, "bob"), 30, "bob's first cycle")
        doc: Any = await s.json("/api/overview")

        assert set(by_user(doc)) == {"alice", "bob", "carol"}
        assert doc["daemon"] == "running"
        assert by_user(doc)["carol"]["state"] == "disabled"
        cli = {r["user"]: r for r in await reports.status_rows(d.settings, d.store, await d.supervisor.status())}
        for name in ("alice", "bob"):
            row = by_user(doc)[name]
            assert row["target"] == "1000000.00" and row["cycles"] >= 1 and row["today"] != "0.00"
            assert set(row) == set(cli[name])  # the same columns as `otobot status --json`
            day = await d.store.day_volume(name, points.utc_day(int(time.time() * 1000)))
            assert row["cycles"] <= day.cycles and row["last_cycle"] is not None
        totals = doc["totals"]
        assert totals["users"] == 3 and totals["cycles"] == sum(r["cycles"] for r in doc["users"])


async def test_a_user_page_reads_history_cycles_fills_audit_and_token(sim: Simulator, tmp_path: Path) -> None:
    async with served(write_config(tmp_path, sim, USERS)) as s:
        d = s.daemon
        await wait_for(lambda: traded(d.store, "alice"), 30, "alice's first cycle that bought and sold")
        await d.supervisor.pause("alice", "operator")
        # a cycle in flight finishes after the pause: wait, so that her figures stand still while compared

        async def settled() -> bool:
            return await d.store.live_cycle("alice") is None
        await wait_for(settled, 30, "alice's last cycle to settle")

        hist: Any = await s.json("/api/users/alice/history?days=3")
        target = await history.user_target(d.settings, d.store, "alice")
        today = points.utc_day(int(time.time() * 1000))
        assert hist == history.json_doc("alice", target, await history.history(d.store, "alice", target, today, 3))
        assert [r["day"] for r in hist["days"]][-1] == today

        cycles: Any = await s.json("/api/users/alice/cycles")
        # a BUY that timed out unfilled also ends `done`, with nothing bought: take one that traded
        done = [c for c in cycles if c["state"] == "done" and c["kind"] == "oto" and c["bought"] != "0"]
        assert done and len(cycles) <= 100
        assert cycles == sorted(cycles, key=lambda c: -c["cycle"])  # newest first
        one = done[0]
        assert one["sold"] != "0" and one["orders"] >= 2 and one["cost_bps"] is not None

        detail: Any = await s.json(f"/api/users/alice/cycles/{one['cycle']}")
        assert detail == await reports.cycle_detail(d.store, "alice", one["cycle"])
        assert {o["role"] for o in detail["orders"]} >= {"working", "pending"}
        sides = {f["side"] for f in detail["fills"]}
        assert sides == {"BUY", "SELL"} and all(f["fee"] != "" for f in detail["fills"])
        buy_fee = next(f for f in detail["fills"] if f["side"] == "BUY")
        assert buy_fee["fee_asset"] != "USDT"  # a BUY pays its fee in the base token

        audit: Any = await s.json("/api/users/alice/audit")
        assert audit == audit_entries(await d.store.audit_since("alice", 0, KINDS), "alice")
        assert audit[-1]["kind"] == "pause" and audit[-1]["text"] == "operator"

        market: Any = await s.json("/api/users/alice/market")
        assert market["token"]["symbol"] == "KOGE" and market["token"]["tick"] and market["token"]["min_notional"]
        assert market["symbol"] == "ALPHA_22USDT"
        assert market["prices"], "the tape saw the trades the bot traded on"
        assert all(ms > time.time() * 1000 - 3_600_000 for ms, _ in market["prices"])

        overview: Any = await s.json("/api/overview")
        assert by_user(overview)["alice"]["paused"] == "operator"
        assert "otobot ctl resume alice" in overview["fixes"]["alice"]


async def test_unknown_users_and_cycles_are_404_and_bad_numbers_400(sim: Simulator, tmp_path: Path) -> None:
    async with served(write_config(tmp_path, sim, USERS)) as s:
        assert (await s.get("/api/users/zed/cycles")).status == 404
        assert (await s.get("/users/..%2f..%2fetc")).status in (200, 404)  # the page itself is static
        assert (await s.get("/api/users/alice/cycles/999999")).status == 404
        assert (await s.get("/api/users/alice/cycles/abc")).status == 400
        assert (await s.get("/api/users/alice/history?days=0")).status == 400
        assert (await s.get("/static/../app.py")).status == 404


async def test_no_page_or_endpoint_shows_a_secret(sim: Simulator, tmp_path: Path) -> None:
    async with served(write_config(tmp_path, sim, USERS)) as s:
        await wait_for(lambda: cycles_done(s.daemon.store, "alice"), 30, "alice's first cycle")
        cycle = (await s.daemon.store.last_cycle("alice"))
        assert cycle is not None
        paths = ["/", "/users/alice", "/static/app.js", "/api/overview", "/api/tokens", "/api/users/alice/history",
                 "/api/users/alice/cycles", f"/api/users/alice/cycles/{cycle.id}", "/api/users/alice/orders",
                 "/api/users/alice/audit", "/api/users/alice/market", "/api/users/alice/stats"]
        for path in paths:
            body = await s.text(path)
            assert not any(secret in body for secret in TEST_SECRETS), path
            assert "cookie" not in body.lower() and "csrf" not in body.lower(), path


async def test_pages_forbid_framing_and_inline_scripts(sim: Simulator, tmp_path: Path) -> None:
    async with served(write_config(tmp_path, sim, {"alice": {}})) as s:
        r = await s.get("/")
        assert r.status == 200 and "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
        assert "script-src" not in r.headers["Content-Security-Policy"]  # default-src 'self': no inline script
        html = await s.text("/")
        assert '<script src="/static/app.js"' in html and "<script>" not in html
        assert "http://" not in html and "https://" not in html  # no CDN: works offline


async def test_without_a_token_the_page_answers_loopback_names_only(sim: Simulator, tmp_path: Path) -> None:
    """A site whose DNS name is rebound to 127.0.0.1 reaches the port, but its Host header gives it away."""
    async with served(write_config(tmp_path, sim, {"alice": {}})) as s:
        for host in ("localhost:9464", "127.0.0.1", "[::1]:9464"):
            assert (await s.get("/api/overview", headers={"Host": host})).status == 200, host
        for host in ("attacker.example", "attacker.example:9464", "127.0.0.1.attacker.example"):
            r = await s.get("/api/overview", headers={"Host": host})
            assert r.status == 421, host
        assert (await s.get("/", headers={"Host": "attacker.example"})).status == 421


async def test_the_price_chart_also_fills_with_one_shared_price_stream(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 10**6}}})
    doc = yaml.safe_load(config.read_text())
    doc["exchange"]["shared_price_stream"] = True
    config.write_text(yaml.safe_dump(doc))
    async with served(config) as s:
        assert s.daemon.supervisor.price_feeds is not None

        async def prices() -> Any:
            market: Any = await s.json("/api/users/alice/market")
            return len(market["prices"]) >= 2 and market
        market = await wait_for(prices, 30, "two seconds of prices on the chart")
        assert market["symbol"] == "ALPHA_22USDT"
