"""`token: auto`: between cycles, the candidate with the lowest expected cost to the target, from the public book."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from otobot.config.settings import UserConfig
from otobot.exchange.errors import ExchangeError, MalformedMessage
from otobot.exchange.models import Token
from otobot.exchange.rest import AlphaRest
from otobot.trading import catalog, plan
from otobot.trading.planner import Candidate, Target
from otobot.trading.state import Choice

if TYPE_CHECKING:
    from otobot.trading.driver import Driver

AUTO = plan.AUTO


def is_auto(cfg: UserConfig) -> bool:
    return cfg.token.lower() == AUTO


def pool(cfg: UserConfig, tokens: list[Token]) -> tuple[str, ...]:
    """The candidates still tradable (alphaIds): a token the exchange stops trading drops out at once."""
    wanted = {w.upper() for w in cfg.candidates}
    return tuple(t.alpha_id for t in tokens if t.tradable
                 and (not wanted or t.symbol.upper() in wanted or t.alpha_id.upper() in wanted))


def _bps(value: Decimal | None) -> str:
    return "-" if value is None else format(value.quantize(Decimal("0.01")), "f")


def explain(choice: Candidate, ranked: list[Candidate]) -> str:
    """One line: the choice with its numbers, then the others (cost per counted volume in bps)."""
    c = choice.cycle
    others = ", ".join(f"{o.token} {_bps(o.cycle.counted_bps(o.mul_point))}" + ("" if o.usable else " (too thin)")
                       for o in ranked if o is not choice)
    return (f"{choice.token}: {_bps(c.counted_bps(choice.mul_point))} bps per counted volume (spread "
            f"{_bps(c.spread_bps)} bps, {_bps(c.cost_bps)} bps of buy volume, {choice.mul_point}x), about "
            f"{format(choice.cost_quote.quantize(Decimal('0.01')), 'f')} to reach the target in {choice.cycles} "
            f"cycles; others: {others or 'none'}")


async def select(bot: Driver) -> Choice | None:
    """Plan every candidate on its current public book (a fresh REST snapshot) and pick the cheapest usable one.

    Reads go through a public client without cookies or limiter, so they never spend the user's order rate budget.
    None when the exchange could not be read or no candidate is usable: the bot keeps what it trades.
    """
    assert bot.session is not None
    cfg = bot.cfg
    public = AlphaRest(bot.session, bot.settings.exchange.rest_url, None, timeout_s=bot.rel.rest_timeout_s,
                       retries=1, logger=bot.log)
    try:
        tokens = pool(cfg, await public.token_list())
        if not tokens:
            bot.log.warning("token auto: none of the candidates {} is tradable now; keeping {}",
                            list(cfg.candidates) or "(every token)", bot.token.symbol if bot.token else "none")
            return None
        inp = plan.PlanInput(user=bot.name, tokens=tokens, quote=cfg.quote,
                             target=Target(cfg.target.kind, cfg.target.value), quote_amount=cfg.order_quote_amount,
                             pause_s=Decimal(str(cfg.pause_between_cycles_s)),
                             requests_per_second=Decimal(str(bot.rel.requests_per_second)),
                             reserve=cfg.min_quote_reserve, rest_url=bot.settings.exchange.rest_url)
        ranked, best = plan.plan(inp, await plan.fetch(public, inp))
    except (ExchangeError, MalformedMessage, plan.PlanError) as exc:
        bot.log.warning("token auto: could not read the candidates' books ({}); keeping {}", exc,
                        bot.token.symbol if bot.token else "none")
        return None
    if best is None:
        bot.log.warning("token auto: no candidate has enough depth on both sides for {} {}; keeping {}",
                        format(cfg.order_quote_amount, "f"), cfg.quote, bot.token.symbol if bot.token else "none")
        return None
    return Choice(best.token, explain(best, ranked))


async def alias(bot: Driver) -> str | None:
    """The token to resolve for the user's settings: the auto choice (made now if there is none yet), or None for a
    configured token. Raises CatalogProblem when `token: auto` cannot choose any."""
    if not is_auto(bot.cfg):
        bot.state.auto = None
        return None
    if bot.state.auto is None:
        bot.state.auto = await select(bot)
        bot.state.reselect_at = bot.clock.monotonic() + bot.cfg.reselect_s
        bot.state.choice_day = bot.state.book.day
        if bot.state.auto is not None:
            bot.log.info("token auto: chose {}", bot.state.auto.why)
    if bot.state.auto is None:
        raise catalog.CatalogProblem(
            f"`token: auto` in {bot.cfg.path} found no candidate to trade (none tradable, none deep enough for "
            f"order.quote_amount, or the market data could not be read); check `otobot plan {bot.name}`, then "
            "`otobot ctl resume`")
    return bot.state.auto.token


def due(bot: Driver, now: float) -> bool:
    """Time to choose again: `reselect_s` passed or a new UTC day began, between cycles only (never mid-cycle)."""
    return (is_auto(bot.cfg) and bot.state.next_cfg is None and bot.state.cycle_row is None and bot.filters is not None
            and bot.state.late_cycle is None and str(bot.cycle.state) == "idle"
            and (now >= bot.state.reselect_at or bot.state.book.day != bot.state.choice_day))


async def reselect(bot: Driver) -> None:
    """Choose again; a different token is taken at this cycle boundary through the config-apply path."""
    bot.state.reselect_at = bot.clock.monotonic() + bot.cfg.reselect_s
    bot.state.choice_day = bot.state.book.day
    choice = await select(bot)
    if choice is None:
        return
    current = bot.token.symbol if bot.token else None
    bot.state.auto = choice
    if choice.token == current:
        bot.log.info("token auto: keeping {}", choice.why)
        return
    bot.log.info("token auto: switching from {} to {}", current, choice.why)
    bot.state.next_cfg = bot.cfg
    bot.state.switch_market = True
