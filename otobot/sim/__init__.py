"""The exchange simulator: plays binance.com's Alpha REST and websocket protocol on 127.0.0.1."""

from otobot.sim.config import SimConfig, SimSymbol, SimUser, default_sim_config, load_sim_config
from otobot.sim.runner import run_sim
from otobot.sim.server import Simulator

__all__ = ["SimConfig", "SimSymbol", "SimUser", "Simulator", "default_sim_config", "load_sim_config", "run_sim"]
