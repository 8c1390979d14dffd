"""The paper simulator's refusal (#25) is read as its own pause reason, with advice that fits a paper run."""

from __future__ import annotations

from otobot.exchange.errors import PAPER_MARKET_HALTED, MarketHalted, error_for
from otobot.trading import pauses
from otobot.trading.pauses import Pause


def test_the_paper_market_halt_pauses_paper_market_with_the_simulators_reason() -> None:
    body = {"code": PAPER_MARKET_HALTED, "message": "paper market paused: the upstream https://x is unreachable",
            "messageDetail": None, "data": None, "success": False}
    exc = error_for(200, body, {})
    assert isinstance(exc, MarketHalted)
    assert pauses.for_error(exc) is Pause.paper_market
    text = pauses.help_text(Pause.paper_market, "alice", detail=str(exc))
    assert text.startswith("paper market paused: the upstream https://x is unreachable")
    assert "`otobot ctl resume alice` once the paper simulator's GET /_sim/upstream says it is up again" in text
    assert Pause.paper_market in pauses.CHECKED_AT_START
