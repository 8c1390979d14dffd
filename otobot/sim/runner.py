"""`otobot sim`: run the simulator standalone and print what to put in a config."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from otobot.sim.config import SimConfig, default_sim_config, load_sim_config
from otobot.sim.mirror import Mirror, start_paper_sim, stop_paper_sim
from otobot.sim.server import Simulator


async def run_sim(config: SimConfig, port: int, *, ready: asyncio.Event | None = None, market_from: str = "",
                  tokens: tuple[str, ...] = ()) -> None:
    mirror: Mirror | None = None
    if market_from:
        sim, mirror = await start_paper_sim(config, market_from, tokens=tokens, port=port)
        config = sim.config
        print(f"otobot PAPER simulator on 127.0.0.1:{sim.port}: public side mirrored from {market_from} "
              "(one upstream socket, public endpoints only, no credentials); orders, fills and balances are "
              "virtual", flush=True)
    else:
        sim = Simulator(config)
        await sim.start(port=port)
        print(f"otobot simulator on 127.0.0.1:{sim.port} (seed {config.seed})")
    print("put these in otobot.yaml under exchange:")
    print(f"  rest_url: {sim.rest_url}\n  market_ws_url: {sim.market_ws_url}\n  user_ws_url: {sim.user_ws_url}")
    print("tokens: " + ", ".join(f"{s.symbol} ({s.alpha_id}, {s.mul_point}x)" for s in config.symbols))
    print("users (credentials: source: inline):")
    for u in config.users:
        print(f"  {u.name}: cookie \"{u.cookie}\"  csrftoken {u.csrftoken}  ({u.usdt} USDT)")
    if mirror is not None:
        print("upstream state: GET /_sim/upstream (orders are refused with the reason while it is gone)")
    print("fault injection: POST /_sim/faults, /_sim/drop_ws, /_sim/expire ... (see otobot/sim/faults.py)", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        if mirror is not None:
            await stop_paper_sim(sim, mirror)
        else:
            await sim.stop()


def main_sim(*, port: int, config_path: Path | None, users: int, seed: int, market_from: str = "",
             tokens: tuple[str, ...] = ()) -> int:
    config = load_sim_config(config_path, users, seed) if config_path else default_sim_config(users=users, seed=seed)
    asyncio.run(run_sim(config, port, market_from=market_from, tokens=tokens))
    return 0
