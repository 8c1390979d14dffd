"""Parsing a DevTools "Copy as cURL" into Credentials."""

from __future__ import annotations

import re

import pytest

from otobot.ops.curl import CurlParseError, parse_curl

COOKIE = "bnc-uuid=0a1b2c3d-uuid; lang=en; cr00=AB12CD34EF56; p20t=web.123456.ABCDEF0123456789; logined=y"
CSRF = "d41d8cd98f00b204e9800998ecf8427e"

CHROME_BASH = rf"""curl 'https://www.binance.com/bapi/asset/v1/private/alpha-trade/oto-order/place' \
  -H 'accept: */*' \
  -H 'accept-language: en-US,en;q=0.9' \
  -H 'bnc-uuid: 0a1b2c3d-uuid' \
  -H 'clienttype: web' \
  -H 'content-type: application/json' \
  -b '{COOKIE}' \
  -H 'csrftoken: {CSRF}' \
  -H 'device-info: eyJzY3JlZW5fcmVzb2x1dGlvbiI6IjE5MjAsMTA4MCJ9' \
  -H 'fvideo-id: 33b0c2bd3bd7bbf02bb2ebcf9e79ea8ba5f7e7f1' \
  -H 'fvideo-token: tok/en+with=chars' \
  -H 'lang: en' \
  -H 'origin: https://www.binance.com' \
  -H 'priority: u=1, i' \
  -H 'referer: https://www.binance.com/en/alpha/bsc/0xabc' \
  -H 'sec-ch-ua: "Chromium";v="131", "Not_A Brand";v="24"' \
  -H 'sec-ch-ua-mobile: ?0' \
  -H 'sec-fetch-mode: cors' \
  -H 'x-trace-id: 1c8a6f02-aaaa' \
  -H 'x-passthrough-token: pass-token-123' \
  -H 'user-agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0' \
  --data-raw '{{"baseAsset":"ALPHA_971","quoteAsset":"USDT","workingSide":"BUY","workingPrice":0.000005619}}'"""


def test_chrome_bash_keeps_cookie_csrf_and_session_headers_only() -> None:
    creds = parse_curl(CHROME_BASH)

    assert creds.cookie == COOKIE
    assert creds.csrftoken == CSRF
    assert dict(creds.headers) == {
        "accept": "*/*",
        "accept-language": "en-US,en;q=0.9",
        "bnc-uuid": "0a1b2c3d-uuid",
        "device-info": "eyJzY3JlZW5fcmVzb2x1dGlvbiI6IjE5MjAsMTA4MCJ9",
        "fvideo-id": "33b0c2bd3bd7bbf02bb2ebcf9e79ea8ba5f7e7f1",
        "fvideo-token": "tok/en+with=chars",
        "lang": "en",
        "x-passthrough-token": "pass-token-123",
        "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0",
    }


def test_request_headers_of_the_parsed_session_carry_no_transport_headers() -> None:
    sent = parse_curl(CHROME_BASH).request_headers()

    assert sent["cookie"] == COOKIE and sent["csrftoken"] == CSRF and sent["clienttype"] == "web"
    assert not {"origin", "priority", "content-length", "host", "referer", "x-trace-id"} & set(sent)
    assert not [name for name in sent if name.startswith("sec-")]


def test_cookie_header_instead_of_b_and_long_options() -> None:
    text = (f"curl --request POST --url https://www.binance.com/x --header 'Cookie: {COOKIE}' "
            f"--header 'CSRFToken: {CSRF}' --header 'Content-Length: 120' --header 'Host: www.binance.com' "
            "--header 'Accept-Encoding: gzip, br' --data '{\"a\":1}' --compressed")

    creds = parse_curl(text)

    assert creds.cookie == COOKIE
    assert creds.csrftoken == CSRF
    assert dict(creds.headers) == {}


def test_cookie_option_spelled_long_and_user_agent_option() -> None:
    creds = parse_curl(f"curl https://x --cookie '{COOKIE}' -H 'csrftoken: {CSRF}' -A 'Firefox/128'")

    assert creds.cookie == COOKIE
    assert creds.headers == {"user-agent": "Firefox/128"}


def test_bash_ansi_c_quoting_chrome_uses_for_bodies_with_quotes() -> None:
    text = (f"curl 'https://www.binance.com/x' -b '{COOKIE}' -H $'csrftoken: {CSRF}' "
            "--data-raw $'{\"note\":\"it\\'s \\u00e9\"}'")

    creds = parse_curl(text)

    assert creds.csrftoken == CSRF
    assert creds.cookie == COOKIE


def test_windows_cmd_flavour() -> None:
    text = (
        'curl ^"https://www.binance.com/bapi/asset/v1/private/alpha-trade/oto-order/place^" ^\r\n'
        '  -H ^"accept: */*^" ^\r\n'
        f'  -b ^"{COOKIE}^" ^\r\n'
        f'  -H ^"csrftoken: {CSRF}^" ^\r\n'
        '  -H ^"sec-fetch-site: same-origin^" ^\r\n'
        '  -H ^"fvideo-id: 33b0c2bd^" ^\r\n'
        '  --data-raw ^"^{^\\^"baseAsset^\\^":^\\^"ALPHA_971^\\^"^}^"'
    )

    creds = parse_curl(text)

    assert creds.cookie == COOKIE
    assert creds.csrftoken == CSRF
    assert dict(creds.headers) == {"accept": "*/*", "fvideo-id": "33b0c2bd"}


def test_missing_csrftoken_says_how_to_copy_the_right_request() -> None:
    with pytest.raises(CurlParseError) as err:
        parse_curl(f"curl 'https://www.binance.com/bapi/defi/v1/public/alpha-trade/ticker' -b '{COOKIE}'")

    assert str(err.value) == ("no csrftoken header found in the cURL text: copy the request of an order on "
                              "binance.com/alpha with 'Copy as cURL (bash)'")


def test_missing_cookie_is_named() -> None:
    with pytest.raises(CurlParseError, match=r"^no cookie found .*Copy as cURL \(bash\)"):
        parse_curl(f"curl 'https://www.binance.com/x' -H 'csrftoken: {CSRF}'")


def test_cookie_file_name_instead_of_a_jar_is_rejected() -> None:
    with pytest.raises(CurlParseError, match=re.escape("not a 'name=value; ...' cookie jar")):
        parse_curl(f"curl https://x -b cookies.txt -H 'csrftoken: {CSRF}'")


@pytest.mark.parametrize(("text", "message"), [
    ("", "does not start with `curl`"),
    ("fetch('https://www.binance.com/x', {headers: {}})", "does not start with `curl`"),
    (f"curl 'https://x' -H 'csrftoken: {CSRF}' -b 'a=1", "does not parse"),
])
def test_not_a_curl_command(text: str, message: str) -> None:
    with pytest.raises(CurlParseError, match=message):
        parse_curl(text)


def test_parsed_credentials_never_print_their_secrets() -> None:
    creds = parse_curl(CHROME_BASH)

    shown = repr(creds) + str(creds)

    assert CSRF not in shown and "AB12CD34EF56" not in shown and "pass-token-123" not in shown
