"""What `otobot bench` prints: its results as lines, and which resource ran out when one did."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

LAG_SATURATED_MS = 50.0
FLOOR_READ_SHORT = 0.95  # a CPU floor that read fewer of the daemon's frames than this share is flagged as low
CPU_TARGET_MS = 1.0  # daemon CPU per completed cycle at 100 users that the performance issue (#12) asks for


def limit(r: dict[str, Any]) -> str | None:
    """Which resource ran out, when one did: a process near 100 % of a core, or the machine's cores all busy."""
    daemon, sim, cores = r.get("daemon_cpu_pct_of_core"), r.get("sim_cpu_pct_of_core"), r.get("cores") or 1
    if daemon is None or sim is None:
        return None
    lag = (r.get("loop_lag_ms") or {}).get("p50", 0.0)
    # A loop whose 10 ms timer fires 50 ms late (p50) is behind its work, whatever the CPU share says: the rest of
    # the core goes to the GIL's other thread (SQLite checkpoints), the GC and the kernel's socket work.
    if daemon >= 85 and sim >= 85:
        return (f"the machine's cores: daemon {daemon:.0f} % and simulator {sim:.0f} % of a core each (the "
                f"simulator shares this machine; on a real deployment the exchange is elsewhere)")
    if daemon >= 85 or lag >= LAG_SATURATED_MS:
        fs = r.get("frames_per_s") or {}
        load = (f"; it read {fs.get('trade', 0):,.0f} price, {fs.get('book', 0):,.0f} book and "
                f"{fs.get('user', 0):,.0f} user-stream frames/s" if fs else "")
        return (f"daemon CPU {daemon:.0f} % of one core (asyncio runs on one core; its timers ran {lag:.0f} ms "
                f"late, p50){load}")
    if sim >= 85:
        return f"simulator CPU {sim:.0f} % of one core"
    if daemon + sim >= 85 * cores:
        return f"the machine's {cores} cores (daemon {daemon:.0f} % + simulator {sim:.0f} %)"
    return None


UNSOLD_SHOWN = 3  # the largest holdings by name; every user's is in --json


def unsold_lines(unsold: dict[str, dict[str, Any]]) -> list[str]:
    """Base left unsold at the end: a total and the largest few, not a line per user (1,000 at 1,000 users)."""
    if not unsold:
        return []
    worth = sorted(unsold.items(), key=lambda kv: Decimal(str(kv[1]["value_quote"])), reverse=True)
    total = sum((Decimal(str(u["value_quote"])) for u in unsold.values()), Decimal(0))
    largest = ", ".join(f"{user} {u['base']} ({u['value_quote']})" for user, u in worth[:UNSOLD_SHOWN])
    more = "; the rest in --json" if len(worth) > UNSOLD_SHOWN else ""
    return [f"  unsold at the end: {len(unsold)} users hold base worth {total} USDT; largest: {largest}{more}"]


def cpu_split(r: dict[str, Any]) -> dict[str, float] | None:
    """A cycle's CPU in three parts measured in the same run: the CPU floor (what bare aiohttp clients spend on the
    same frames and POST), the writes (SQLite's COMMITs and the statements' bodies, timed on the loop) and the
    rest, otobot's own work. `own_budget_ms`: what CPU_TARGET_MS would leave for that rest."""
    cpu, floor, writes = r.get("cpu_ms_per_cycle"), r.get("floor_cpu_ms_per_cycle"), r.get("sqlite_ms_per_cycle")
    if cpu is None or floor is None or writes is None:
        return None
    return {"floor_ms": floor, "writes_ms": writes, "own_ms": round(cpu - floor - writes, 3),
            "own_budget_ms": round(CPU_TARGET_MS - floor - writes, 3)}


def floor_lines(r: dict[str, Any]) -> list[str]:
    if "floor_p50_ms" not in r:
        return []
    f50, f99 = r["floor_p50_ms"], r["floor_p99_ms"]

    def ratio(x: float | None, f: float) -> str:
        return f"{x / f:.1f}×" if x is not None and f and f == f else "n/a"

    return [f"floor (bare aiohttp client, same simulator, users and pacing; frame read → request written): "
            f"n={r['floor_n']} p50 {f50} ms, p99 {f99} ms; otobot is {ratio(r['reaction_p50_ms'], f50)} (p50), "
            f"{ratio(r['reaction_p99_ms'], f99)} (p99) of it",
            f"daemon CPU per completed cycle: {r['cpu_ms_per_cycle']} ms"
            + (f"; SQLite {r['sqlite_commits_per_cycle']} commits for {r['sqlite_writes_per_cycle']} writes per cycle"
               + (f", {r['sqlite_ms_per_cycle']} ms of it" if "sqlite_ms_per_cycle" in r else "")
               if "sqlite_commits_per_cycle" in r else ""),
            *([f"CPU floor (bare aiohttp clients, same sockets and pacing, {r['floor_cpu_frames_per_cycle']} frames "
               f"read and 1 POST per cycle; the daemon made {r.get('requests_per_cycle', '?')} requests per cycle): "
               f"{r['floor_cpu_ms_per_cycle']} ms per cycle; otobot is "
               f"{ratio(r['cpu_ms_per_cycle'], r['floor_cpu_ms_per_cycle'])} of it"]
              if "floor_cpu_ms_per_cycle" in r else []),
            *split_lines(r)]


def split_lines(r: dict[str, Any]) -> list[str]:
    split = cpu_split(r)
    if split is None:
        return []
    budget = split["own_budget_ms"]
    left = (f"a {CPU_TARGET_MS} ms cycle would leave {budget} ms for it" if budget > 0 else
            f"a {CPU_TARGET_MS} ms cycle is below the floor and the writes together: it would leave nothing "
            f"({budget} ms) for it")
    replayed = r.get("writes_floor_ms_per_cycle")
    alone = (f" (SQLite alone, replaying the window's {r.get('writes_floor_transactions')} write transactions into "
             f"a new file: {replayed} ms)" if replayed is not None else "")
    read = sum((r.get("frames_per_cycle") or {}).values())
    floor_read = r.get("floor_cpu_frames_per_cycle") or 0
    short = (f" (the floor's clients read {floor_read} of the daemon's {read:.1f} frames a cycle before the simulator "
             f"ran out, so the floor is low and the rest high)" if floor_read < FLOOR_READ_SHORT * read else "")
    return [f"where a cycle's CPU goes: {split['floor_ms']} ms the CPU floor{short} + {split['writes_ms']} ms the "
            f"SQLite writes{alone} + {split['own_ms']} ms otobot's own work (parsing, deciding, the state machine); "
            f"{left}"]


def render(r: dict[str, Any]) -> str:
    lat = r["reaction_ms"]
    floor = floor_lines(r)
    lines = [f"otobot bench: {r['users']} users ({r['users_connected']} connected), mode {r['mode']}, "
             f"seed {r['seed']}, pause {r['pause_between_cycles_s']} s, decoder {r['json_decoder']}, "
             f"event loop {r.get('event_loop', 'asyncio')}, "
             f"{'one shared price stream per symbol' if r['shared_price_stream'] else 'a price stream per bot'}",
             f"reaction (fill frame read → next request written): n={lat['n']} p50 {lat['p50']} ms, "
             f"p99 {lat['p99']} ms, max {lat['max']} ms", *floor]
    if "cycles" in r:
        kept = (f", {r['kept_up_pct']} % of the {r['floor_reactions_per_s']} reactions/s the floor's clients got"
                if "kept_up_pct" in r else "")
        lines.append(f"throughput: {r['cycles']} cycles in {r['elapsed_s']} s = {r['cycles_per_s']} cycles/s "
                     f"({r['cycles_per_s_per_user']} per user{kept}); CPU {r['cpu_s_in_window']} s in that window")
    if "frames_per_cycle" in r:
        fc, gcp = r["frames_per_cycle"], r.get("gc_pause_ms", {})
        flush = r.get("sqlite_flush_ms")
        lines.append(f"read per cycle: {fc.get('trade')} price, {fc.get('book')} book, {fc.get('user')} user-stream "
                     f"frames; GC pauses {gcp.get('n')} (longest {gcp.get('max')} ms); a 10 ms timer ran late by "
                     f"{r.get('loop_lag_ms', {}).get('p50')} ms p50, {r.get('loop_lag_ms', {}).get('p99')} ms p99"
                     + (f"; SQLite COMMIT on the loop p50 {flush['p50']} ms, p99 {flush['p99']} ms, "
                        f"max {flush['max']} ms" if flush else ""))
    if "daemon_cpu_pct_of_core" in r:
        ran_out = limit(r)
        lines.append(f"CPU in that window: daemon {r['daemon_cpu_pct_of_core']} % of a core, simulator "
                     f"{r['sim_cpu_pct_of_core']} % ({r['cores']} cores); "
                     + (f"saturated: {ran_out}" if ran_out else "no resource saturated"))
    if "resting_before_move" in r:
        lines.append(f"burst: {r['resting_before_move']} BUYs resting, {r['filled_by_move']} bots reacted to the move")
    lines.append(f"footprint: RSS {r['rss_mb']} MB ({r['rss_mb_per_user']} MB per user above "
                 f"{r['rss_mb_before_bots']} MB), CPU {r['cpu_s_total']} s total")
    cost = r["cost"]
    lines.append(f"cost floor (2 fees + 1 spread) {cost['floor_bps']} bps; target ≤ {cost['target_bps']} bps")
    for name in ("book", "otobot", "naive_1pct"):
        if name in cost:
            c = cost[name]
            lines.append(f"  {name:<10} loss {c['loss_bps']} bps of buy volume ({c['loss_per_1000_quote']} per 1,000) "
                         f"= fees {c['fees_bps']} + spread/slippage {c['spread_and_slippage_bps']} bps "
                         f"over {c['cycles']} cycles")
            lines.append(f"  {'':<10} marked to market: loss {c['marked_loss_bps']} bps with "
                         f"{c['inventory_quote']} USDT of base still held counted at its value, not as loss")
    lines.extend(unsold_lines(cost.get("unsold_base", {})))
    if r.get("invariants"):
        inv = r["invariants"]
        lines.append(f"invariants: {inv['users_ok']}/{r['users']} users clean; duplicates {inv['duplicates']}, "
                     f"lost fills {inv['lost_fills']}, untracked orders {inv['untracked_orders']}, "
                     f"overlapping OTOs {inv['overlapping_otos']}; injected {r['injected']}")
    return "\n".join(lines)
