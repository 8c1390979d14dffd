"""SQLite schema: every migration in order (each moves the version up by one) and the code that runs them."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar

from otobot.store import fills, reclaim

T = TypeVar("T")

# Each migration moves the schema up by one version; they run in order, once, at open.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE users (
        name TEXT PRIMARY KEY,
        paused_reason TEXT,
        paused_ms INTEGER,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE credentials (
        user TEXT PRIMARY KEY,
        blob BLOB NOT NULL,
        updated_ms INTEGER NOT NULL
    );
    CREATE TABLE cycles (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user TEXT NOT NULL,
        day TEXT NOT NULL,
        symbol TEXT NOT NULL,
        base_asset TEXT NOT NULL,
        quote_asset TEXT NOT NULL,
        mul_point INTEGER NOT NULL DEFAULT 1,
        state TEXT NOT NULL,
        reason TEXT,
        working_price TEXT NOT NULL,
        pending_price TEXT NOT NULL,
        quantity TEXT NOT NULL,
        pay_amount TEXT NOT NULL,
        intent_ms INTEGER NOT NULL,
        placed_ms INTEGER,
        closed_ms INTEGER,
        order_list_id TEXT
    );
    CREATE INDEX cycles_user_state ON cycles(user, state);
    CREATE TABLE orders (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user TEXT NOT NULL,
        cycle_id INTEGER NOT NULL REFERENCES cycles(id),
        role TEXT NOT NULL,            -- working | pending | unwind
        order_id TEXT UNIQUE,          -- NULL until the exchange acknowledged it (write before send)
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        price TEXT NOT NULL,
        quantity TEXT NOT NULL,
        status TEXT NOT NULL,          -- INTENT until acknowledged, then the exchange's status
        cum_qty TEXT NOT NULL DEFAULT '0',
        cum_quote TEXT NOT NULL DEFAULT '0',
        fee TEXT NOT NULL DEFAULT '0',
        fee_asset TEXT NOT NULL DEFAULT '',
        intent_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL
    );
    CREATE INDEX orders_cycle ON orders(cycle_id);
    CREATE INDEX orders_user_time ON orders(user, intent_ms);
    CREATE TABLE fills (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user TEXT NOT NULL,
        cycle_id INTEGER NOT NULL,
        order_id TEXT NOT NULL,
        exec_key TEXT NOT NULL,        -- order id + cumulative filled qty: one row per execution, ever
        side TEXT NOT NULL,
        price TEXT NOT NULL,
        qty TEXT NOT NULL,
        quote_qty TEXT NOT NULL,
        commission TEXT NOT NULL,
        commission_asset TEXT NOT NULL,
        time_ms INTEGER NOT NULL,
        source TEXT NOT NULL,          -- ws | rest
        UNIQUE (user, exec_key)
    );
    CREATE INDEX fills_order ON fills(order_id);
    CREATE TABLE daily_volume (
        user TEXT NOT NULL,
        day TEXT NOT NULL,
        buy_quote TEXT NOT NULL DEFAULT '0',
        sell_quote TEXT NOT NULL DEFAULT '0',
        fees_quote TEXT NOT NULL DEFAULT '0',      -- every fee, valued in quote (buy fees are paid in base)
        sell_fees_quote TEXT NOT NULL DEFAULT '0', -- the part of it that the sells paid in quote
        cycles INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (user, day)
    );
    CREATE TABLE tokens (
        alpha_id TEXT PRIMARY KEY,
        symbol TEXT NOT NULL,
        name TEXT NOT NULL,
        mul_point INTEGER NOT NULL,
        tradable INTEGER NOT NULL,
        raw TEXT NOT NULL,
        updated_ms INTEGER NOT NULL
    );
    CREATE INDEX tokens_symbol ON tokens(symbol);
    CREATE TABLE symbols (
        symbol TEXT PRIMARY KEY,
        filters TEXT NOT NULL,
        updated_ms INTEGER NOT NULL
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts_ms INTEGER NOT NULL,
        user TEXT,
        cycle_id INTEGER,
        kind TEXT NOT NULL,            -- transition | reload | pause | resume | reconcile | adopt
        from_state TEXT,
        to_state TEXT,
        reason TEXT
    );
    CREATE INDEX audit_user ON audit(user, ts_ms);
    """,
    # 2: a cycle's kind: an OTO, a sweep of fee dust (unwind sells only), or a stray order otobot found and records;
    #    and the leg a cancelling cycle cancels, so a restart knows it instead of guessing.
    """
    ALTER TABLE cycles ADD COLUMN kind TEXT NOT NULL DEFAULT 'oto';
    ALTER TABLE cycles ADD COLUMN cancelling TEXT;  -- which leg a `cancelling` cycle cancels: working | pending
    """,
)

# ---------------------------------------------------------------- retention (issue 10)
# The time indexes let pruning find old rows without a scan; the (user, id) ones serve "the newest rows of
# this user" (`status`, `orders`, audit) from the index's end instead of sorting the user's whole history.
MIGRATIONS += ("""
    CREATE INDEX IF NOT EXISTS cycles_closed ON cycles(closed_ms);
    CREATE INDEX IF NOT EXISTS cycles_user_id ON cycles(user, id);
    CREATE INDEX IF NOT EXISTS orders_user_id ON orders(user, id);
    CREATE INDEX IF NOT EXISTS audit_time ON audit(ts_ms);
    CREATE INDEX IF NOT EXISTS audit_user_id ON audit(user, id);
""",)

# ---------------------------------------------------------------- whose coins (issue 19)
# Per user and symbol: otobot's own base (what its cycles bought, less base fees, less what they sold) and the
# user's own as otobot saw it trade (executions no cycle owns). Updated in the fill's own transaction; pruning
# never touches it, so old fills going away never turn the user's coins into "dust" otobot would sell.
MIGRATIONS += ("""
    CREATE TABLE IF NOT EXISTS ledger (
        user TEXT NOT NULL,
        symbol TEXT NOT NULL,
        base_asset TEXT NOT NULL,
        own_base TEXT NOT NULL DEFAULT '0',
        user_base TEXT NOT NULL DEFAULT '0',
        last_price TEXT NOT NULL DEFAULT '0',
        updated_ms INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (user, symbol)
    );
    ALTER TABLE daily_volume ADD COLUMN user_buy_quote TEXT NOT NULL DEFAULT '0';
    ALTER TABLE daily_volume ADD COLUMN user_sell_quote TEXT NOT NULL DEFAULT '0';
    -- the unwind ladder starts again from its first rung after this many of the cycle's unwind SELLs (ctl resume,
    -- cancel or flatten of a user paused unwind_failed): a restart keeps the new ladder instead of re-pausing
    ALTER TABLE cycles ADD COLUMN ladder_from INTEGER NOT NULL DEFAULT 0;
""",)


# ---------------------------------------------------------------- a month without a restart (issue 24)
# The audit keeps what an operator audits (pauses, resumes, reloads, adoptions, strays, credentials, transitions off
# the happy path: Store's AUDITED_STATES, written out here as a migration never changes): the happy path's five
# rows a cycle were 39 % of the file, and the cycle and order rows hold every state.
# Indexes only where a query needs one: the audit's (user, id) serves `otobot audit` and the daily summary (a user's
# few rows), (ts_ms) serves pruning; `orders USER` walks the user's cycles and their orders, so the two indexes
# of orders by user went; fills are
# found by order through their (user, exec_key) key, whose text starts with the order id, so fills(order_id) went;
# pruning walks cycles by id up to the last one begun before the cutoff, so cycles(closed_ms) went;
# and a user's live cycle (at most one) is found in a partial index instead of one over every cycle's state (its
# states written out: a migration never changes; should LIVE_CYCLE_STATES grow, the query stops matching the index
# and SQLite reads the (user, id) one instead, slower but right, and a test of the plans says so).
MIGRATIONS += ("""
    DELETE FROM audit WHERE kind = 'transition' AND ((cycle_id IS NULL AND from_state = 'done')
        OR (cycle_id IS NOT NULL AND to_state NOT IN ('reconciling', 'cancelling', 'cancelled', 'unwinding')));
    DROP INDEX IF EXISTS audit_user;
    DROP INDEX IF EXISTS orders_user_time;
    DROP INDEX IF EXISTS orders_user_id;
    DROP INDEX IF EXISTS fills_order;
    DROP INDEX IF EXISTS cycles_user_state;
    DROP INDEX IF EXISTS cycles_closed;
    CREATE INDEX IF NOT EXISTS cycles_live ON cycles(user) WHERE state IN ('placing', 'reconciling', 'pending',
        'partially_filled', 'selling', 'cancelling', 'cancelled', 'unwinding');
""",)


def transaction(c: sqlite3.Connection, body: Callable[[], T]) -> T:
    c.execute("BEGIN IMMEDIATE")
    try:
        result = body()
    except BaseException:
        c.execute("ROLLBACK")
        raise
    c.execute("COMMIT")
    return result


def migrate(c: sqlite3.Connection) -> None:
    reclaim.set_on_new_file(c)  # before the first table, or it takes a VACUUM
    c.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    for i, script in enumerate(MIGRATIONS, start=1):
        def step(script: str = script, i: int = i) -> None:
            # The version is read inside the write lock: a CLI opening the file while the daemon migrates it
            # waits, then finds the step done, instead of running it twice.
            row = c.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if (int(row[0]) if row else 0) >= i:
                return
            for stmt in script.split(";"):
                if stmt.strip():
                    c.execute(stmt)
            c.execute("INSERT INTO meta(key, value) VALUES('schema_version', ?) "
                      "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (str(i),))
        transaction(c, step)
    fills.backfill_ledger(c)  # once, for a database whose fills came before the ledger
