"""`token: auto` against a simulator whose tokens differ in spread, depth and multiplier (config/sim-varied.yaml)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
import yaml

from otobot.sim.server import Simulator
from otobot.trading import plan
from otobot.trading.planner import Target
from otobot.views import reports
from tests.e2e.test_plan import varied  # noqa: F401  (the sim-varied.yaml simulator fixture)
from tests.helpers import assert_clean, running, wait_for, write_config


async def plan_choice(sim: Simulator) -> tuple[str, Decimal]:
    """What `otobot plan` says is cheapest for the test user's settings right now, and its cost in bps."""
    inp = plan.PlanInput(user=None, tokens=(plan.AUTO,), quote="USDT", target=Target("points", Decimal(15)),
                         quote_amount=Decimal(20), pause_s=Decimal("0.05"), requests_per_second=Decimal(50),
                         reserve=Decimal(0), rest_url=sim.rest_url)
    _, best = await plan.run(inp)
    assert best is not None and best.cycle.cost_bps is not None
    return best.token, best.cycle.cost_bps


async def test_token_auto_trades_the_planned_cheapest_and_switches_when_its_spread_widens(
        varied: Simulator, tmp_path: Path, logs: list[str]) -> None:  # noqa: F811  (the fixture)
    user = varied.user_names()[0]
    config = write_config(tmp_path, varied, {user: {
        "token": "auto", "reselect_s": 1, "target": {"kind": "points", "value": 15}, "order": {"quote_amount": 20},
        "pause_between_cycles_s": 0.2}}, reliability={"requests_per_second": 50, "request_burst": 50})
    path = tmp_path / "users" / f"{user}.yaml"
    data = yaml.safe_load(path.read_text())
    data["pricing"] = {"mode": "book"}  # merging into the helper's user would keep percent's offsets
    path.write_text(yaml.safe_dump(data))
    first, predicted_bps = await plan_choice(varied)
    async with running(config) as d:
        bot = await d.bot(user)
        await wait_for(lambda: bot.token is not None and bot.cycles_completed >= 10, 30, "ten cycles on the choice")
        assert bot.token is not None and bot.token.symbol == first
        status = bot.status()
        assert status["token"] == first and first in status["token_choice"]
        assert "bps per counted volume" in status["token_choice"]
        # What the round trips paid on the choice (USDT spent less the base held, at the last trade) is within
        # 20 % of the plan's prediction (the "done when"); paused so no cycle is half counted.
        await bot.pause()
        await wait_for(lambda: bot.cycle_row is None, 15, "a cycle boundary")
        stats = await d.store.user_stats(user)
        usdt = varied.exchange.accounts[user].balances["USDT"]
        held = sum(varied.exchange.accounts[user].balances[bot.token.alpha_id], Decimal(0))
        assert bot.last_trade is not None
        paid_bps = (Decimal(10000) - usdt[0] - usdt[1] - held * bot.last_trade.price) / stats.buy_quote * 10000
        print(f"plan predicted {predicted_bps:.3f} bps, paid {paid_bps:.3f} bps over {stats.cycles} cycles")
        assert abs(paid_bps - predicted_bps) <= predicted_bps * Decimal("0.2"), (paid_bps, predicted_bps)
        await bot.resume()
        # Widen the chosen token's spread on the exchange: the next choice between cycles moves elsewhere.
        chosen = bot.symbol
        async with aiohttp.ClientSession() as http, \
                http.post(varied.rest_url + "/_sim/spread", json={"symbol": chosen, "bps": 60}) as r:
            assert r.status == 200, await r.text()
        second, _ = await plan_choice(varied)
        assert second != first
        await wait_for(lambda: bot.token is not None and bot.token.symbol == second and bot.cycles_completed >= 4,
                       30, f"a switch to {second}")
        switch_lines = [line for line in logs if f"token auto: switching from {first} to {second}" in line]
        assert switch_lines and "INFO" in switch_lines[0] and "others:" in switch_lines[0]
        # `otobot status` shows the token auto trades and why, not the word "auto".
        rows = await reports.status_rows(d.settings, d.store, {"users": [bot.status()]})
        row = next(r for r in rows if r["user"] == user)
        assert row["token"] == second and row["token_choice"].startswith(f"{second}: ")
        # Switching never cut a cycle: paused between cycles, the exchange and SQLite agree on both symbols.
        await bot.pause()
        await wait_for(lambda: bot.cycle_row is None, 15, "a cycle boundary")
        await assert_clean(varied, d.store, user)


def test_candidates_belong_to_token_auto_and_are_a_list_of_tokens(tmp_path: Path) -> None:
    from otobot.config.settings import ConfigError, load_user

    path = tmp_path / "dan.yaml"
    path.write_text(yaml.safe_dump({"token": "KOGE", "candidates": ["AOP"]}))
    with pytest.raises(ConfigError, match="set `token: auto`"):
        load_user(path)
    path.write_text(yaml.safe_dump({"token": "auto", "candidates": "AOP"}))
    with pytest.raises(ConfigError, match="expected a list of token aliases"):
        load_user(path)
    path.write_text(yaml.safe_dump({"token": "auto", "candidates": ["AOP", "ALPHA_971"], "reselect_s": 60}))
    cfg = load_user(path)
    assert (cfg.token, cfg.candidates, cfg.reselect_s) == ("auto", ("AOP", "ALPHA_971"), 60.0)


def test_the_pool_keeps_only_tradable_candidates() -> None:
    from otobot.config.settings import UserConfig
    from otobot.exchange.models import Token
    from otobot.trading.autotoken import pool

    def token(alpha_id: str, symbol: str, offline: bool = False) -> Token:
        return Token(alpha_id, symbol, symbol, "56", "0x0", 1, offline, False, False)

    tokens = [token("ALPHA_22", "KOGE"), token("ALPHA_118", "AOP", offline=True), token("ALPHA_971", "NEX")]
    base = dict.fromkeys(UserConfig.__dataclass_fields__)  # only token and candidates are read
    everyone = UserConfig(**{**base, "token": "auto", "candidates": ()})  # type: ignore[arg-type]
    some = UserConfig(**{**base, "token": "auto", "candidates": ("aop", "KOGE")})  # type: ignore[arg-type]
    # An offline token drops out at once, whether named or not; names match alias or alphaId, any case.
    assert pool(everyone, tokens) == ("ALPHA_22", "ALPHA_971")
    assert pool(some, tokens) == ("ALPHA_22",)
