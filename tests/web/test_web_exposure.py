"""Who may read the health port: loopback by default; any other address only with a token, checked on every path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from otobot.config.settings import ConfigError, load_global
from otobot.ops.health import TOKEN_COOKIE, HealthServer
from otobot.ops.metrics import Metrics

TOKEN = "0123456789abcdef0123"


def global_file(tmp_path: Path, control: dict[str, Any]) -> Path:
    path = tmp_path / "otobot.yaml"
    path.write_text(yaml.safe_dump({"exchange": {"rest_url": "https://www.binance.com"}, "control": control}))
    return path


def test_loopback_is_the_default_bind_and_needs_no_token(tmp_path: Path) -> None:
    s = load_global(global_file(tmp_path, {"health_port": 9464}))
    assert (s.web_bind, s.web_token, s.dashboard) == ("127.0.0.1", None, True)


def test_another_bind_without_a_token_is_refused_at_load_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_global(global_file(tmp_path, {"health_port": 9464, "bind": "0.0.0.0"}))
    assert "control.bind" in str(exc.value) and "control.web_token" in str(exc.value)
    assert "SSH tunnel" in str(exc.value)


def test_a_short_token_is_refused_without_printing_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_global(global_file(tmp_path, {"health_port": 9464, "bind": "0.0.0.0", "web_token": "secret-ish"}))
    assert "control.web_token" in str(exc.value) and "secret-ish" not in str(exc.value)


def test_another_bind_with_a_token_loads(tmp_path: Path) -> None:
    s = load_global(global_file(tmp_path, {"health_port": 9464, "bind": "0.0.0.0", "web_token": TOKEN}))
    assert (s.web_bind, s.web_token) == ("0.0.0.0", TOKEN)


def test_the_server_refuses_to_start_on_another_address_without_a_token() -> None:
    with pytest.raises(ValueError, match=r"needs control\.web_token"):
        HealthServer(lambda: {"ok": True}, Metrics(), port=0, host="0.0.0.0")


async def test_with_a_token_every_path_needs_it_by_header_or_by_a_link_that_sets_a_cookie() -> None:
    def page(app: Any) -> None:
        async def hello(request: Any) -> Any:
            from aiohttp import web
            return web.Response(text="dashboard")
        app.router.add_get("/", hello)

    server = HealthServer(lambda: {"ok": True}, Metrics(), port=0, host="0.0.0.0", token=TOKEN, routes=[page])
    await server.start()
    url = f"http://127.0.0.1:{server.port}"
    try:
        async with aiohttp.ClientSession() as anon:
            for path in ("/", "/health", "/metrics"):
                async with anon.get(url + path) as r:
                    assert r.status == 401, path
                    assert "control.web_token" in await r.text() and TOKEN not in await r.text()
            async with anon.get(url + "/", headers={"Authorization": "Bearer wrong-token-wrong-token"}) as r:
                assert r.status == 401
            async with anon.get(url + "/?token=wrong") as r:
                assert r.status == 401
            async with anon.get(url + "/health", headers={"Authorization": f"Bearer {TOKEN}"}) as r:
                assert r.status == 200
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
            async with browser.get(url + f"/?token={TOKEN}&x=1", allow_redirects=False) as r:
                assert r.status == 302 and r.headers["Location"] == "/?x=1"  # the token leaves the address bar
                cookie = r.cookies[TOKEN_COOKIE]
                assert cookie["httponly"] and cookie["samesite"] == "Strict"
            async with browser.get(url + "/") as r:
                assert (r.status, await r.text()) == (200, "dashboard")
    finally:
        await server.stop()
