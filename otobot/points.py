"""Alpha points math, kept at its old import path for modules outside the trading core (see trading/daybook.py)."""

from otobot.trading.daybook import target_volume, utc_day, volume_for_points, volume_points

__all__ = ["target_volume", "utc_day", "volume_for_points", "volume_points"]
