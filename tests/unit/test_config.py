"""Settings come from AEGIS_* and aegis.yaml; a bad value is one line naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from aegis.core import config
from aegis.core.errors import ConfigError


def test_environment_overrides_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """aegis.yaml provides values; an AEGIS_* variable wins over it."""
    path = tmp_path / "aegis.yaml"
    path.write_text("log_tail_lines: 50\nmemory_limit_max_mib: 4096\n")
    monkeypatch.setenv("AEGIS_CONFIG", str(path))
    monkeypatch.setenv("AEGIS_LOG_TAIL_LINES", "75")
    settings = config.load()
    assert settings.log_tail_lines == 75
    assert settings.memory_limit_max_mib == 4096


def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """An invalid value raises ConfigError whose single line names AEGIS_<SETTING>."""
    monkeypatch.setenv("AEGIS_MEMORY_LIMIT_FACTOR", "9")
    with pytest.raises(ConfigError) as info:
        config.load()
    assert str(info.value).startswith("AEGIS_MEMORY_LIMIT_FACTOR:")
    assert "\n" not in str(info.value)


def test_unknown_yaml_key_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A typo in aegis.yaml is an error, not silently ignored."""
    path = tmp_path / "aegis.yaml"
    path.write_text("log_tail_line: 50\n")
    monkeypatch.setenv("AEGIS_CONFIG", str(path))
    with pytest.raises(ConfigError, match="log_tail_line"):
        config.load()


def test_missing_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """AEGIS_CONFIG pointing nowhere says so."""
    monkeypatch.setenv("AEGIS_CONFIG", "/nonexistent/aegis.yaml")
    with pytest.raises(ConfigError, match="does not exist"):
        config.load()


def test_alertmanager_api_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """AEGIS_ALERTMANAGER_URL, its credentials as secrets, and AEGIS_SILENCERS as a comma list."""
    monkeypatch.setenv("AEGIS_ALERTMANAGER_URL", "http://alertmanager:9093/")
    monkeypatch.setenv("AEGIS_ALERTMANAGER_USERNAME", "aegis")
    monkeypatch.setenv("AEGIS_ALERTMANAGER_PASSWORD", "pw-Zq9vXk")
    monkeypatch.setenv("AEGIS_SILENCERS", "U1, U2")
    settings = config.load()
    assert settings.alertmanager_url == "http://alertmanager:9093" and settings.silencers == ["U1", "U2"]
    assert settings.alertmanager_password is not None and "pw-Zq9vXk" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"AEGIS_ALERTMANAGER_USERNAME": "aegis"}, "set the password for it too"),
        ({"AEGIS_ALERTMANAGER_PASSWORD": "pw-Zq9vXk"}, "set AEGIS_ALERTMANAGER_USERNAME too"),
        ({"AEGIS_ALERTMANAGER_USERNAME": "a", "AEGIS_ALERTMANAGER_PASSWORD": "pw-Zq9vXk", "AEGIS_ALERTMANAGER_BEARER_TOKEN": "t"}, "not both"),
        ({"AEGIS_ALERTMANAGER_URL": "alertmanager:9093"}, "must be an http(s) URL"),
    ],
)
def test_alertmanager_credentials_must_be_one_kind_and_complete(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], fragment: str) -> None:
    """Half a basic-auth pair, or both kinds at once, stop start-up with one line naming the variable; the password is never echoed."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as info:
        config.load()
    assert str(info.value).startswith("AEGIS_ALERTMANAGER_") and fragment in str(info.value) and "pw-Zq9vXk" not in str(info.value)
