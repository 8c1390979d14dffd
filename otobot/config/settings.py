"""YAML → frozen dataclasses: every knob with its default and reason, errors a user can act on."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urlsplit

from otobot.config.reader import ConfigError as ConfigError
from otobot.config.reader import Reader, reading
from otobot.exchange import protocol
from otobot.exchange.credentials import Credentials

# A user's name is its file name and a database key; `creds import ../../etc/x` must not invent one.
USER_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
USER_NAME_RULE = "1 to 32 characters: lowercase letters, digits, '-' and '_', starting with a letter or digit"


# ---------------------------------------------------------------- the global file


@dataclass(frozen=True, slots=True)
class ExchangeConfig:
    rest_url: str = protocol.REAL_REST_URL
    market_ws_url: str = protocol.REAL_MARKET_WS_URL
    user_ws_url: str = protocol.REAL_USER_WS_URL
    # Off: every bot owns its price websocket (the fixed design). On: one per symbol for the whole process,
    # which the benchmark shows is what makes hundreds of users per process affordable.
    shared_price_stream: bool = False
    # > 0: a bot's own price socket is read in batches, at most this often (exchange/batches.py): one wake-up per
    # batch instead of one per frame. Prices then arrive up to this late. 0 (default): every frame at once.
    price_read_every_s: float = 0.0


@dataclass(frozen=True, slots=True)
class ReliabilityConfig:
    # Each knob: default and why (NautilusTrader live-config habit).
    rest_timeout_s: float = 10.0  # a bapi call slower than this is treated as lost (orders: unknown outcome)
    rest_retries: int = 3  # reads only; order POSTs are never retried (no client order id on Alpha)
    requests_per_second: float = 2.0  # per account; peers run 4/s (S9) and still see risk checks
    request_burst: int = 6  # a cycle's place + cancel + reconcile reads fit in one burst
    listen_key_renew_s: float = 1500.0  # ≤ 25 min: lifetime undocumented, S2 renews at 25 min
    ws_ping_interval_s: float = 20.0  # what every peer sends; nbstream's own limits are unknown
    market_stale_after_s: float = 30.0  # no aggTrade for this long → reconnect the price stream
    ws_backoff_max_s: float = 30.0  # reconnect backoff cap (jittered exponential below it)
    disconnect_grace_s: float = 30.0  # user stream down longer than this → pause with `disconnected`
    resume_after_reconnect: bool = False  # after a `disconnected` pause, wait for an operator by default
    unknown_settle_s: float = 3.0  # wait before trusting "not found" for a lost place request
    rest_poll_s: float = 2.0  # REST polling period for an in-flight cycle while the user stream is down
    bot_restart_backoff_max_s: float = 300.0  # a crashing bot is restarted with backoff up to this


@dataclass(frozen=True, slots=True)
class TelegramConfig:
    bot_token: str
    chat_id: str
    base_url: str = "https://api.telegram.org"
    # Telegram commands (/status, /pause USER, ...): read by long polling getUpdates. Only these chats may
    # command (empty: the notify chat_id alone); only the global notify section's telegram listens.
    commands: bool = True
    allowed_chat_ids: tuple[str, ...] = ()
    poll_timeout_s: float = 25.0  # Telegram holds a getUpdates this long when nothing happens (max 50)

    def command_chats(self) -> frozenset[str]:
        return frozenset(self.allowed_chat_ids or (self.chat_id,))


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    telegram: TelegramConfig | None = None
    webhook_url: str | None = None
    daily_summary_utc_hour: int = 0


@dataclass(frozen=True, slots=True)
class GlobalConfig:
    path: Path
    database: Path
    users_dir: Path
    exchange: ExchangeConfig = field(default_factory=ExchangeConfig)
    reliability: ReliabilityConfig = field(default_factory=ReliabilityConfig)
    log_level: str = "INFO"
    control_socket: Path | None = None
    health_port: int | None = None  # localhost HTTP /health and /metrics; off unless set
    key_file: Path | None = None  # master key for stored credentials (else OTOBOT_MASTER_KEY / LoadCredential)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    # Orders, fills, cycles and audit rows older than this are pruned daily (daily totals are kept forever):
    # ~1.9 KB a cycle, 100 busy users fill ~4.5 GB a month; 90 days of detail covers any dispute. 0 keeps all.
    retention_days: int = 90


# ---------------------------------------------------------------- one user's file


@dataclass(frozen=True, slots=True)
class PricingConfig:
    mode: str = "percent"  # percent: offsets in % ; fixed: offsets in ticks; book: from the order book's levels
    buy_offset: Decimal = Decimal("0.5")  # above the last trade: crosses the spread so the BUY fills as taker
    # below the BUY price. It must exceed buy_offset or the SELL lands at the last price and rests instead of
    # crossing back (S1's docs recommend 0.5 % / 1.0 %). Fills happen at the book's prices, not at these limits.
    sell_offset: Decimal = Decimal("1.0")
    # book mode: ticks beyond the covering level (BUY above the ask that covers it, SELL below the covering bid),
    # margin for a level that is taken between reading the book and the order reaching it.
    guard_ticks: int = 0


@dataclass(frozen=True, slots=True)
class TargetConfig:
    kind: str = "volume"  # volume: buy volume in quote per UTC day; points: Alpha volume points
    value: Decimal = Decimal("100")


@dataclass(frozen=True, slots=True)
class UnwindConfig:
    # Leftover base is sold with plain LIMIT sells at the last price minus each rung, in %.
    ladder_pct: tuple[Decimal, ...] = (Decimal("0.2"), Decimal("0.5"), Decimal("1"), Decimal("2"), Decimal("5"))
    rung_timeout_s: float = 5.0


@dataclass(frozen=True, slots=True)
class UserConfig:
    name: str
    path: Path
    enabled: bool
    token: str  # alias (KOGE) or alphaId (ALPHA_22)
    quote: str
    target: TargetConfig
    order_quote_amount: Decimal
    pricing: PricingConfig
    buy_timeout_s: float
    sell_timeout_s: float
    pause_between_cycles_s: float
    volatility_window_s: float
    volatility_max_pct: Decimal
    max_price_age_s: float
    min_quote_reserve: Decimal
    unwind: UnwindConfig
    credentials: Credentials | None  # inline (simulator/demo); None → the encrypted store
    notify: NotifyConfig | None = None
    # token: auto — the tokens to choose among (aliases or alphaIds; empty: every tradable one) and how often
    candidates: tuple[str, ...] = ()
    reselect_s: float = 300.0


def _resolve(base: Path, value: str) -> Path:
    p = Path(os.path.expandvars(os.path.expanduser(value)))
    return p if p.is_absolute() else (base / p)


def _notify(r: Reader) -> NotifyConfig:
    tg = r.section("telegram")
    telegram = None
    if r.present("telegram"):
        telegram = TelegramConfig(bot_token=tg.required_string("bot_token"), chat_id=tg.required_string("chat_id"),
                                  base_url=tg.string("base_url", "https://api.telegram.org") or "",
                                  commands=tg.boolean("commands", True), allowed_chat_ids=_chat_ids(tg),
                                  poll_timeout_s=tg.number("poll_timeout_s", 25.0, 1, 50))
    else:
        tg.seen.update(tg.data)  # absent section: nothing to check
    tg.finish()
    hour = r.integer("daily_summary_utc_hour", 0, 0, 23) or 0
    return NotifyConfig(telegram=telegram, webhook_url=r.string("webhook_url", None), daily_summary_utc_hour=hour)


def _chat_ids(r: Reader) -> tuple[str, ...]:
    raw = r._raw("allowed_chat_ids")
    if raw is None:
        return ()
    if not isinstance(raw, list) or any(isinstance(x, bool) or not isinstance(x, int | str) for x in raw):
        r.problem("allowed_chat_ids", raw, "expected a list of Telegram chat ids, e.g. [123456789, -1001234567890]")
        return ()
    return tuple(str(x).strip() for x in raw)


def load_global(path: Path | str) -> GlobalConfig:
    """Read the daemon's file (`otobot.yaml`); relative paths are relative to the file's folder."""
    path = Path(path)
    problems: list[str] = []
    base = path.parent
    with reading(path, problems) as r:
        if not r.data:
            raise ConfigError(path, [
                f"the file is empty; with every default otobot would trade on the real exchange "
                f"({protocol.REAL_REST_URL}) for the users in {base / 'users'}, so an empty file is refused: write "
                f"at least `exchange: {{rest_url: {protocol.REAL_REST_URL}}}` (see config/otobot.yaml)"])
        database = _resolve(base, r.string("database", "otobot.db") or "otobot.db")
        retention_days = r.integer("retention_days", 90, 0, 36500)
        users_dir = _resolve(base, r.string("users_dir", "users") or "users")
        ex = r.section("exchange")
        exchange = _exchange(ex)
        ex.finish()
        rel = r.section("reliability")
        d = ReliabilityConfig()
        reliability = ReliabilityConfig(
            rest_timeout_s=rel.number("rest_timeout_s", d.rest_timeout_s, 0.5, 120),
            rest_retries=rel.integer("rest_retries", d.rest_retries, 0, 10) or 0,
            requests_per_second=rel.number("requests_per_second", d.requests_per_second, 0.1, 100),
            request_burst=rel.integer("request_burst", d.request_burst, 1, 100) or 1,
            listen_key_renew_s=rel.number("listen_key_renew_s", d.listen_key_renew_s, 1, 1800),
            ws_ping_interval_s=rel.number("ws_ping_interval_s", d.ws_ping_interval_s, 1, 300),
            market_stale_after_s=rel.number("market_stale_after_s", d.market_stale_after_s, 1, 3600),
            ws_backoff_max_s=rel.number("ws_backoff_max_s", d.ws_backoff_max_s, 0.1, 600),
            disconnect_grace_s=rel.number("disconnect_grace_s", d.disconnect_grace_s, 0, 3600),
            resume_after_reconnect=rel.boolean("resume_after_reconnect", d.resume_after_reconnect),
            unknown_settle_s=rel.number("unknown_settle_s", d.unknown_settle_s, 0, 120),
            rest_poll_s=rel.number("rest_poll_s", d.rest_poll_s, 0.1, 60),
            bot_restart_backoff_max_s=rel.number("bot_restart_backoff_max_s", d.bot_restart_backoff_max_s, 1, 3600),
        )
        rel.finish()
        log = r.section("logging")
        level = log.string("level", "INFO", ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR")) or "INFO"
        log.finish()
        ctl = r.section("control")
        sock = ctl.string("socket", None)
        health_port = ctl.integer("health_port", None, 1, 65535)
        ctl.finish()
        creds = r.section("credentials")
        key_file = creds.string("key_file", None)
        creds.finish()
        nt = r.section("notify")
        notify = _notify(nt)
        nt.finish()
    return GlobalConfig(
        path=path, database=database, users_dir=users_dir, exchange=exchange, reliability=reliability,
        log_level=level, control_socket=_resolve(base, sock) if sock else None, health_port=health_port,
        key_file=_resolve(base, key_file) if key_file else None, notify=notify,
        retention_days=90 if retention_days is None else retention_days,
    )


def _exchange(ex: Reader) -> ExchangeConfig:
    """The REST URL must be written out (a forgotten section must not mean real money); the stream URLs default
    to nbstream only for binance.com, so a simulator config never streams from the real exchange by accident."""
    rest = (ex.string("rest_url", None) or "").rstrip("/")
    market = ex.string("market_ws_url", None)
    user = ex.string("user_ws_url", None)
    shared = ex.boolean("shared_price_stream", False)
    read_every = ex.number("price_read_every_s", 0.0, 0.0, 0.5)
    if not rest:
        ex.problems.append(
            f"key 'exchange.rest_url' is missing: it is required, so that no file trades on the real exchange by "
            f"accident (the default would be {protocol.REAL_REST_URL}); write `rest_url: {protocol.REAL_REST_URL}` "
            "for real accounts, or the simulator's URL that `otobot sim` prints")
        return ExchangeConfig()
    if not rest.startswith(("https://", "http://")):
        ex.problem("rest_url", rest, f"expected an http(s) URL like {protocol.REAL_REST_URL}")
    real = is_binance_url(rest)
    for key, value, default in (("market_ws_url", market, protocol.REAL_MARKET_WS_URL),
                                ("user_ws_url", user, protocol.REAL_USER_WS_URL)):
        if value is None and not real:
            ex.problems.append(
                f"key 'exchange.{key}' is missing: rest_url {rest} is not binance.com, so the default {default} "
                "would mix the real exchange's streams with another REST server; set it (`otobot sim` prints it)")
        elif value is not None and not value.startswith(("wss://", "ws://")):
            ex.problem(key, value, f"expected a websocket URL like {default}")
    return ExchangeConfig(rest_url=rest, market_ws_url=market or protocol.REAL_MARKET_WS_URL,
                          user_ws_url=user or protocol.REAL_USER_WS_URL, shared_price_stream=shared,
                          price_read_every_s=read_every)


def is_binance_url(url: str) -> bool:
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    return host == "binance.com" or host.endswith(".binance.com")


# A BUY limit far above the last trade can sweep a thin Alpha book, and a SELL far below the BUY can dump into it;
# peers run 0.5 % / 1 %. The caps are generous against that and stop a typo like `buy_offset: 50`.
MAX_BUY_OFFSET_PCT = Decimal(5)
MAX_SELL_OFFSET_PCT = Decimal(10)


def _check_sell_crosses_back(p: Reader, mode: str, buy: Decimal, sell: Decimal) -> None:
    """The pending SELL must land below the last trade, or it rests on the book instead of filling at once."""
    if mode == "fixed":
        if sell <= buy:
            p.problem("sell_offset", int(sell), f"with buy_offset {buy} ticks the pending SELL would sit "
                      f"{buy - sell} ticks above the last trade and rest instead of crossing back; make sell_offset "
                      f"larger than buy_offset, e.g. {2 * buy if buy else 4}")
        return
    above = ((1 + buy / 100) * (1 - sell / 100) - 1) * 100  # pending SELL vs the last trade, in %
    if above >= 0:
        p.problem("sell_offset", float(sell), f"with buy_offset {buy} the pending SELL would sit "
                  f"{above.quantize(Decimal('0.001'))} % above the last trade and rest instead of crossing back; "
                  f"make sell_offset larger than buy_offset, e.g. {min(2 * buy, MAX_SELL_OFFSET_PCT)}")


def load_user(path: Path | str) -> UserConfig:
    """Read one user's file; the user's name is the file name without `.yaml`."""
    path = Path(path)
    problems: list[str] = []
    name = path.stem
    if not USER_NAME.fullmatch(name):
        raise ConfigError(path, [f"the file name makes the user name {name!r}, which is not allowed "
                                 f"({USER_NAME_RULE}); rename the file"])
    with reading(path, problems) as r:
        enabled = r.boolean("enabled", True)
        token = r.required_string("token").strip()
        quote = (r.string("quote", "USDT", ("USDT", "USDC")) or "USDT")
        t = r.section("target")
        kind = t.string("kind", "volume", ("volume", "points")) or "volume"
        if kind == "points":
            value = t.decimal("value", Decimal(10), Decimal(1), Decimal(40))
            if value != value.to_integral_value():
                t.problem("value", str(value), "points are whole numbers, e.g. 15")
        else:
            value = t.decimal("value", Decimal(100), Decimal(0), lo_open=True)
        t.finish()
        o = r.section("order")
        amount = o.decimal("quote_amount", Decimal(10), Decimal("0.1"), lo_open=False)
        o.finish()
        p = r.section("pricing")
        before = len(problems)
        mode = p.string("mode", "percent", ("percent", "fixed", "book")) or "percent"
        guard = 0
        if mode == "book":
            # Prices come from the book's levels: offsets from the last trade would mean nothing here.
            buy_off = sell_off = Decimal(0)
            guard = p.integer("guard_ticks", 0, 0, 1000) or 0
            for k in ("buy_offset", "sell_offset"):
                if p.present(k):
                    p.problem(k, p._raw(k), "mode book prices from the order book's levels, not offsets: remove "
                              "it (pricing.guard_ticks adds ticks of margin) or set pricing.mode to percent")
                    p.seen.add(k)
        elif mode == "percent":
            buy_off = p.decimal("buy_offset", Decimal("0.5"), Decimal(0), MAX_BUY_OFFSET_PCT)
            sell_off = p.decimal("sell_offset", Decimal("1.0"), Decimal(0), MAX_SELL_OFFSET_PCT, lo_open=True)
        else:
            buy_off = p.decimal("buy_offset", Decimal(2), Decimal(0), Decimal(10) ** 12)
            sell_off = p.decimal("sell_offset", Decimal(4), Decimal(1), Decimal(10) ** 12)
            for k, v in (("buy_offset", buy_off), ("sell_offset", sell_off)):
                if v != v.to_integral_value():
                    p.problem(k, str(v), "in fixed mode offsets are whole numbers of ticks")
        if len(problems) == before and mode != "book":
            _check_sell_crosses_back(p, mode, buy_off, sell_off)
        p.finish()
        tm = r.section("timeouts")
        buy_s = tm.number("buy_s", 10.0, 0.5, 3600)
        sell_s = tm.number("sell_s", 20.0, 0.5, 3600)
        tm.finish()
        pause = r.number("pause_between_cycles_s", 1.0, 0, 3600)
        vol = r.section("volatility")
        window = vol.number("window_s", 60.0, 1, 3600)
        max_pct = vol.decimal("max_move_pct", Decimal(3), Decimal(0), Decimal(100), lo_open=True)
        vol.finish()
        max_age = r.number("max_price_age_s", 10.0, 0.1, 3600)
        reserve = r.decimal("min_quote_reserve", Decimal(0), Decimal(0))
        candidates, reselect = _auto_token(r, token)
        u = r.section("unwind")
        ladder_raw = u._raw("ladder_pct")
        ladder = UnwindConfig().ladder_pct
        if ladder_raw is not None:
            try:
                if not isinstance(ladder_raw, list) or not ladder_raw:
                    raise InvalidOperation
                ladder = tuple(Decimal(str(x)) for x in ladder_raw)
                if any(x < 0 or x >= 100 or isinstance(y, bool) for x, y in zip(ladder, ladder_raw, strict=True)):
                    raise InvalidOperation
            except (InvalidOperation, ValueError):
                u.problem("ladder_pct", ladder_raw, "expected a list of percents in [0, 100), e.g. [0.2, 0.5, 1]")
                ladder = UnwindConfig().ladder_pct
        rung = u.number("rung_timeout_s", 5.0, 0.5, 600)
        u.finish()
        c = r.section("credentials")
        creds: Credentials | None = None
        source = c.string("source", "store", ("store", "inline")) or "store"
        if source == "inline":
            creds = Credentials(cookie=c.required_string("cookie"), csrftoken=c.required_string("csrftoken"))
        else:
            for key in ("cookie", "csrftoken"):
                if c.present(key):
                    c.problem(key, "***", "set `source: inline` to use credentials written here, or remove it and "
                              f"run `otobot creds import {name}`")
                    c.seen.add(key)
        c.finish()
        user_notify = None
        if r.present("notify"):
            nt = r.section("notify")
            user_notify = _notify(nt)
            nt.finish()
        else:
            r.seen.add("notify")
    if not token:
        raise ConfigError(path, ["key 'token' is empty: give an alias like KOGE or an alphaId like ALPHA_22"])
    return UserConfig(
        name=name, path=path, enabled=enabled, token=token, quote=quote, target=TargetConfig(kind, value),
        order_quote_amount=amount, pricing=PricingConfig(mode, buy_off, sell_off, guard), buy_timeout_s=buy_s,
        sell_timeout_s=sell_s, pause_between_cycles_s=pause, volatility_window_s=window,
        volatility_max_pct=max_pct, max_price_age_s=max_age, min_quote_reserve=reserve,
        unwind=UnwindConfig(ladder, rung), credentials=creds, notify=user_notify, candidates=candidates,
        reselect_s=reselect,
    )


def _auto_token(r: Reader, token: str) -> tuple[tuple[str, ...], float]:
    """`candidates` and `reselect_s`, which only mean something with `token: auto`."""
    raw = r._raw("candidates")
    reselect = r.number("reselect_s", 300.0, 1, 86400)
    if token.lower() != "auto":
        if raw is not None:
            r.problem("candidates", raw, "candidates are the tokens `token: auto` chooses among: set `token: auto` "
                      "or remove candidates")
        return (), reselect
    if raw is None:
        return (), reselect
    if not isinstance(raw, list) or not raw or not all(isinstance(x, str) and x.strip() for x in raw):
        r.problem("candidates", raw, "expected a list of token aliases or alphaIds, e.g. [KOGE, AOP, ALPHA_971]")
        return (), reselect
    return tuple(x.strip() for x in raw), reselect


@dataclass(frozen=True, slots=True)
class UsersScan:
    """Every user file in the users directory: the good ones parsed, the bad ones with their errors."""

    users: dict[str, UserConfig]
    errors: dict[str, ConfigError]


def user_files(users_dir: Path) -> list[Path]:
    if not users_dir.is_dir():
        return []
    return sorted(p for p in users_dir.iterdir() if p.suffix in (".yaml", ".yml") and not p.name.startswith("."))


def scan_users(users_dir: Path, on_error: Callable[[Path, Exception], ConfigError] | None = None) -> UsersScan:
    """Every user file parsed, or its error. With `on_error`, ANY exception reading one file (not only a
    ConfigError) becomes that user's error, as the daemon needs; without it, only ConfigErrors are caught."""
    users: dict[str, UserConfig] = {}
    errors: dict[str, ConfigError] = {}
    by_name: dict[str, list[Path]] = {}
    for path in user_files(users_dir):
        by_name.setdefault(path.stem, []).append(path)
    for name, paths in by_name.items():
        if len(paths) > 1:  # which one wins would depend on directory order: refuse both, name both
            both = " and ".join(p.name for p in paths)
            errors[name] = ConfigError(users_dir, [f"{both} both define user '{name}'; keep one of them and delete "
                                                  "the other"])
            continue
        path = paths[0]
        try:
            cfg = load_user(path)
        except ConfigError as exc:
            errors[path.stem] = exc
            continue
        except Exception as exc:
            if on_error is None:
                raise
            errors[path.stem] = on_error(path, exc)
            continue
        users[cfg.name] = cfg
    return UsersScan(users, errors)
