"""The live camera's STUN/TURN servers come from secrets.toml and the environment (tm_core.ui.ice).

Real secrets.toml files read by Streamlit's own ``Secrets`` (pointed at a temporary folder), real
environment variables. The only stand-in is the TURN service's web API (Cloudflare, Twilio), which
this machine cannot reach: ``ice.FETCHERS`` is replaced to check what is asked and what is done
with the answer or the failure.
"""

from __future__ import annotations

import logging
import re
import tomllib

import pytest
from streamlit import config
from streamlit.runtime.secrets import Secrets

from tm_core.ui import ice, webrtc

from conftest import REPO

GOOGLE = {"urls": ["stun:stun.l.google.com:19302"]}


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    for name in (*ice.ENV.values(), webrtc.LOOPBACK_ENV):
        monkeypatch.delenv(name, raising=False)
    ice.forget_failures()
    yield
    ice.forget_failures()


@pytest.fixture
def secrets_file(tmp_path):
    """``write(text) -> Secrets``: a real .streamlit/secrets.toml in a temporary folder, read by Streamlit."""
    before = config.get_option("secrets.files")

    def write(text: str) -> Secrets:
        path = tmp_path / ".streamlit" / "secrets.toml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        config.set_option("secrets.files", [str(path)])
        loaded = Secrets()
        assert loaded.load_if_toml_exists()
        return loaded

    yield write
    config.set_option("secrets.files", before)


def test_default_is_googles_stun_server(tmp_path):
    before = config.get_option("secrets.files")
    try:
        config.set_option("secrets.files", [str(tmp_path / "none" / "secrets.toml")])
        assert not Secrets().load_if_toml_exists()
        assert webrtc.rtc_configuration(secrets=Secrets(), environ={}) == {"iceServers": [GOOGLE]}
    finally:
        config.set_option("secrets.files", before)
    assert webrtc.rtc_configuration(secrets={}, environ={}) == {"iceServers": [GOOGLE]}


def test_browser_tests_use_no_servers(monkeypatch):
    import aioice.ice

    monkeypatch.setattr(aioice.ice, "get_host_addresses", aioice.ice.get_host_addresses)  # restored after
    monkeypatch.setenv(webrtc.LOOPBACK_ENV, "1")
    assert webrtc.rtc_configuration(secrets={"webrtc": {"stun_urls": ["stun:x.org"]}}) == {"iceServers": []}


def test_turn_server_from_secrets_toml(secrets_file):
    secrets = secrets_file(
        '[webrtc]\nstun_urls = ["stun:stun.school.example:3478"]\n'
        'turn_urls = ["turn:turn.school.example:3478", "turns:turn.school.example:5349"]\n'
        'turn_username = "class7"\nturn_credential = "s3cret"\n')
    assert webrtc.rtc_configuration(secrets=secrets, environ={}) == {"iceServers": [
        {"urls": ["turn:turn.school.example:3478", "turns:turn.school.example:5349"],
         "username": "class7", "credential": "s3cret"},
        {"urls": ["stun:stun.school.example:3478"]},
    ]}


def test_environment_alone_and_over_secrets(secrets_file, monkeypatch):
    monkeypatch.setenv("TM_TURN_URLS", "turn:relay.example:3478, turns:relay.example:443")
    monkeypatch.setenv("TM_TURN_USERNAME", "env-user")
    monkeypatch.setenv("TM_TURN_CREDENTIAL", "env-pass")
    monkeypatch.setenv("TM_STUN_URLS", "")  # none: an offline room
    expected = {"iceServers": [{"urls": ["turn:relay.example:3478", "turns:relay.example:443"],
                                "username": "env-user", "credential": "env-pass"}]}
    assert webrtc.rtc_configuration(secrets={}) == expected  # os.environ by default
    secrets = secrets_file('[webrtc]\nturn_urls = ["turn:from-secrets:3478"]\nturn_username = "a"\n'
                           'turn_credential = "b"\nstun_urls = ["stun:from-secrets:3478"]\n')
    assert webrtc.rtc_configuration(secrets=secrets) == expected
    monkeypatch.delenv("TM_TURN_URLS")
    monkeypatch.delenv("TM_STUN_URLS")
    assert webrtc.rtc_configuration(secrets=secrets) == {"iceServers": [
        {"urls": ["turn:from-secrets:3478"], "username": "env-user", "credential": "env-pass"},
        {"urls": ["stun:from-secrets:3478"]}]}


def test_unusable_values_are_left_out_and_logged(secrets_file, caplog):
    caplog.set_level(logging.WARNING, logger=ice.__name__)
    secrets = secrets_file('[webrtc]\nstun_urls = "https://stun.example, stun:ok.example:3478"\n'
                           'turn_urls = ["turn:t.example:3478"]\nturn_username = "only-a-name"\n'
                           'cloudflare_turn_key_id = "abc"\n')
    assert webrtc.rtc_configuration(secrets=secrets, environ={}) == {"iceServers": [{"urls": ["stun:ok.example:3478"]}]}
    said = caplog.text
    assert "'https://stun.example', which is not a stun: or stuns: URL" in said
    assert "turn_urls is set without turn_username and turn_credential" in said
    assert "cloudflare_turn_key_api_token is missing" in said and "CLOUDFLARE_TURN_KEY_API_TOKEN" in said
    assert ice.settings({"webrtc": "not a table"}, {}) == ice.IceSettings()


def test_cloudflare_and_twilio_keys_fetch_short_lived_logins(secrets_file, monkeypatch):
    asked = []
    answers = {
        "cloudflare": [{"urls": ["stun:stun.cloudflare.com:3478", "turn:turn.cloudflare.com:3478?transport=udp"],
                        "username": "cf-user", "credential": "cf-pass"}],
        "twilio": [{"url": "turn:global.turn.twilio.com:3478", "urls": "turn:global.turn.twilio.com:3478",
                    "username": "tw-user", "credential": "tw-pass"}],
    }

    def fetcher(service):
        def fetch(pair):
            asked.append((service, pair))
            return answers[service]
        return fetch

    monkeypatch.setattr(ice, "FETCHERS", {s: fetcher(s) for s in answers})
    secrets = secrets_file('[webrtc]\ncloudflare_turn_key_id = "key-id"\ncloudflare_turn_key_api_token = "tok"\n')
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC123")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "tw-token")
    servers = webrtc.rtc_configuration(secrets=secrets)["iceServers"]
    assert servers == [*answers["cloudflare"], *answers["twilio"], GOOGLE]
    assert asked == [("cloudflare", ("key-id", "tok")), ("twilio", ("AC123", "tw-token"))]


def test_a_turn_service_that_fails_is_not_asked_again_for_a_while(monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger=ice.__name__)
    calls = []

    def unreachable(pair):
        calls.append(pair)
        raise ValueError("Failed to get credentials from Cloudflare Realtime TURN")

    monkeypatch.setattr(ice, "FETCHERS", {"cloudflare": unreachable})
    env = {"CLOUDFLARE_TURN_KEY_ID": "id", "CLOUDFLARE_TURN_KEY_API_TOKEN": "tok", "TM_TURN_URLS": "turn:own:3478",
           "TM_TURN_USERNAME": "u", "TM_TURN_CREDENTIAL": "p"}
    fixed = [{"urls": ["turn:own:3478"], "username": "u", "credential": "p"}, GOOGLE]
    for _ in range(3):  # every rerun of the page asks
        assert webrtc.rtc_configuration(secrets={}, environ=env)["iceServers"] == fixed
    assert calls == [("id", "tok")]
    assert "could not get cloudflare TURN logins" in caplog.text
    monkeypatch.setattr(ice, "RETRY_AFTER_S", 0.0)
    webrtc.rtc_configuration(secrets={}, environ=env)
    assert len(calls) == 2


def test_the_example_secrets_file_is_valid():
    text = (REPO / ".streamlit" / "secrets.toml.example").read_text()
    table = tomllib.loads(text)
    s = ice.settings(table, {})
    assert s.stun_urls == ice.DEFAULT_STUN
    assert s.turn_urls and s.turn_username and s.turn_credential
    assert s.cloudflare is None and s.twilio is None  # commented out
    # Every key the example names, commented out or not, is one the app reads.
    named = {m.group(1) for m in re.finditer(r"^#? ?([a-z_]+) = ", text, re.M)}
    assert named == set(ice.ENV)
    assert ".streamlit/secrets.toml" in (REPO / ".gitignore").read_text().splitlines()
