"""The shipped systemd unit says what the daemon relies on (notify, watchdog, credentials, sandbox)."""

from __future__ import annotations

import configparser
from pathlib import Path

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "otobot.service"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)  # strict: a directive set twice fails
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser


def test_service_runs_as_a_notify_daemon_with_watchdog_and_reload() -> None:
    service = unit()["Service"]

    assert service["Type"] == "notify"
    assert service["ExecStart"] == "/opt/otobot/venv/bin/otobot run --config /etc/otobot/otobot.yaml"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["WatchdogSec"] == "30"
    assert (service["Restart"], service["RestartSec"], service["TimeoutStopSec"]) == ("on-failure", "5", "20")


def test_service_is_unprivileged_sandboxed_and_gets_the_key_as_a_credential() -> None:
    service = unit()["Service"]

    expected = {
        "User": "otobot", "Group": "otobot", "UMask": "0077",
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
        "PrivateDevices": "yes", "ProtectKernelTunables": "yes", "ProtectControlGroups": "yes",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "StateDirectory": "otobot", "RuntimeDirectory": "otobot", "ConfigurationDirectory": "otobot",
        "ReadWritePaths": "/var/lib/otobot",
        "LoadCredential": "otobot-master-key:/etc/otobot/master.key",
    }
    assert {k: service.get(k) for k in expected} == expected


def test_unit_starts_after_the_network_and_installs_into_multi_user() -> None:
    parsed = unit()

    assert parsed["Unit"]["After"] == "network-online.target"
    assert parsed["Install"]["WantedBy"] == "multi-user.target"


def test_the_credential_name_matches_what_the_daemon_reads() -> None:
    from otobot.secrets import SYSTEMD_CREDENTIAL

    assert unit()["Service"]["LoadCredential"].split(":")[0] == SYSTEMD_CREDENTIAL
