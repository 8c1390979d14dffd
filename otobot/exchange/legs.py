"""OTO legs told apart by contingency position and side, never by assuming the working leg buys: a reverse OTO
works a SELL and keeps a BUY pending (alpha-api.md §5, §7.7 S14). otobot never places one; a user may."""

from __future__ import annotations

OTO_WORKING = "OTO_WORKING"
OTO_PENDING = "OTO_PENDING"
WORKING = "working"
PENDING = "pending"


def oto_leg(position: str | None) -> str | None:
    """"working", "pending" or None (not an OTO leg), from `cp` / `contingencyOrderPosition` alone."""
    return WORKING if position == OTO_WORKING else PENDING if position == OTO_PENDING else None


def is_reverse_leg(side: str, position: str | None) -> bool:
    """A leg of an OTO that works a SELL and keeps a BUY pending."""
    return (position == OTO_WORKING and side == "SELL") or (position == OTO_PENDING and side == "BUY")


def describe_leg(side: str, position: str | None, order_list_id: str) -> str | None:
    """An OTO leg in an operator's words ("the pending BUY of reverse OTO 89863105, which sells first and buys
    back"); None for an order outside any OTO."""
    leg = oto_leg(position)
    if leg is None:
        return None
    if is_reverse_leg(side, position):
        return f"the {leg} {side} of reverse OTO {order_list_id}, which sells first and buys back"
    return f"the {leg} {side} of OTO {order_list_id}"
