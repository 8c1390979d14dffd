"""`otobot creds`: import a browser session, check it, re-encrypt it with a new key, make a key."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import BinaryIO

import aiohttp

from otobot.cli.common import CommandProblem, err, out, user_config, user_credentials
from otobot.config.settings import ConfigError, GlobalConfig, user_files
from otobot.exchange.credentials import Credentials
from otobot.exchange.errors import AuthExpired, ExchangeError
from otobot.exchange.rest import AlphaRest
from otobot.ops.curl import CurlParseError, parse_curl_request
from otobot.ops.secrets import DecryptError, MasterKeyError, encrypt_credentials, generate_key_file, keyring_for
from otobot.store.db import Store
from otobot.store.opening import open_existing, open_or_empty, probe

# A browser's "Copy as cURL" is a few KiB (the cookie jar is the bulk); anything far larger is the wrong paste.
MAX_CURL_BYTES = 1 << 20


def gen_key(path: Path) -> int:
    try:
        generate_key_file(path)
    except MasterKeyError as exc:
        err(str(exc))
        return 1
    except OSError as exc:
        err(f"{path}: cannot create the key file ({exc.strerror}); pick a path in a folder you can write")
        return 1
    out(f"wrote a new master key to {path} (mode 0600); point credentials.key_file at it or install it "
        "as the systemd credential otobot-master-key")
    return 0


async def run(settings: GlobalConfig, args: argparse.Namespace) -> int:
    action = args.creds_command
    if action == "import":
        return await import_session(settings, args.user, args.file, args.no_check, sys.stdin.buffer)
    if action == "check":
        return await check_sessions(settings, args.user)
    if action == "rotate-key":
        return await rotate_key(settings)
    raise CommandProblem(f"otobot creds: unknown action {action}")


def read_curl(file: Path | None, stdin: BinaryIO) -> str:
    """The pasted cURL text from --file or stdin, at most MAX_CURL_BYTES of UTF-8."""
    source = str(file) if file else "standard input"
    try:
        if file is None:
            data = stdin.read(MAX_CURL_BYTES + 1)
        else:
            with file.open("rb") as f:
                data = f.read(MAX_CURL_BYTES + 1)
    except IsADirectoryError:
        raise CommandProblem(f"{file}: is a folder; give --file the text file holding the cURL") from None
    except OSError as exc:
        raise CommandProblem(f"{source}: cannot read the cURL text ({exc.strerror})") from None
    if len(data) > MAX_CURL_BYTES:
        raise CommandProblem(f"{source}: more than {MAX_CURL_BYTES // 1024} KiB; a browser's 'Copy as cURL' is a "
                             "few KiB: copy the single oto-order/place request, not a HAR file or a log")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CommandProblem(f"{source}: byte {exc.start + 1} is not UTF-8 text; paste the 'Copy as cURL (bash)' "
                             "text as it is") from None


async def import_session(settings: GlobalConfig, user: str, file: Path | None, no_check: bool,
                         stdin: BinaryIO) -> int:
    # The master key first: without it nothing could be stored, so nothing may be sent to the exchange either.
    keyring = keyring_for(settings)
    if file is None and sys.stdin.isatty():
        err("paste the 'Copy as cURL (bash)' text, then press Ctrl-D")
    try:
        request = parse_curl_request(read_curl(file, stdin))
    except CurlParseError as exc:
        raise CommandProblem(f"{file or 'standard input'}: {exc}") from None
    warning = request.host_warning()
    if warning:
        err(warning)
    if not no_check:
        ok, detail = await login_check(settings, request.credentials)
        if ok is None:
            raise CommandProblem(f"{user}: could not check the login {detail}; nothing stored: try again, or "
                                 "store without the check with --no-check")
        if not ok:
            raise CommandProblem(f"{user}: these cookies are not logged in {detail}; nothing stored")
    probe(settings.database, missing_ok=True)  # the first import creates the database; a damaged one is refused
    store = await Store.open(settings.database)
    try:
        await store.save_credentials(user, encrypt_credentials(keyring, request.credentials), int(time.time() * 1000))
    finally:
        await store.close()
    out(f"stored encrypted credentials for {user} ({len(request.credentials.cookie_names())} cookies); "
        f"send SIGHUP or `otobot ctl resume {user}` to use them")
    if user not in {p.stem for p in user_files(settings.users_dir)}:
        err(f"note: there is no {settings.users_dir / user}.yaml yet; create it so that the daemon trades for {user}")
    return 0


async def check_sessions(settings: GlobalConfig, only: str | None) -> int:
    users = [only] if only else sorted({p.stem for p in user_files(settings.users_dir)})
    if not users:
        raise CommandProblem(f"{settings.users_dir}: no user files, so no session to check")
    store = await open_or_empty(settings.database)
    worst = 0
    try:
        for user in users:
            try:
                credentials = await user_credentials(settings, store, user_config(settings, user))
            except ConfigError as exc:
                out(f"{user}: no session ({exc.problems[0]})")
                worst = 1
                continue
            ok, detail = await login_check(settings, credentials)
            verdict = {True: "logged in", False: "NOT logged in", None: "unknown, could not check"}[ok]
            out(f"{user}: {verdict} {detail}".rstrip())
            worst = worst or (0 if ok else 1)
    finally:
        await store.close()
    return worst


async def rotate_key(settings: GlobalConfig) -> int:
    keyring = keyring_for(settings)
    store = await open_existing(settings.database)
    done, failed = 0, []
    try:
        for user in await store.credential_users():
            blob = await store.load_credentials(user)
            if blob is None:
                continue
            try:
                rotated = keyring.rotate(blob)
            except DecryptError:
                failed.append(user)
                continue
            await store.save_credentials(user, rotated, int(time.time() * 1000))
            done += 1
    finally:
        await store.close()
    out(f"re-encrypted {done} stored session(s) with the newest key")
    if failed:
        err(f"{', '.join(failed)}: the stored session opens with none of the configured keys, so it was left as it "
            "was; put the old key back after the new one and run rotate-key again, or import the session anew")
        return 1
    out("the old key can now be removed")
    return 0


async def login_check(settings: GlobalConfig, credentials: Credentials) -> tuple[bool | None, str]:
    """True/False: the exchange said logged in or not; None: it could not be asked (the detail says why)."""
    async with aiohttp.ClientSession() as session:
        rest = AlphaRest(session, settings.exchange.rest_url, credentials)
        try:
            await rest.check_session()
            return True, ""
        except AuthExpired as exc:
            return False, f"({exc})"
        except ExchangeError as exc:
            return None, f"({exc})"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, f"(could not reach {settings.exchange.rest_url}: {exc or 'timed out'})"
