"""Which STUN and TURN servers the live webcam and microphone (WebRTC) use: read from the app's
secrets (``.streamlit/secrets.toml``, the ``[webrtc]`` table; on Streamlit Community Cloud, the
app's Secrets box) or from the environment, which wins when both set a value.

    [webrtc] key                    environment variable            what
    stun_urls                       TM_STUN_URLS                    STUN servers (default: Google's
                                                                    stun:stun.l.google.com:19302);
                                                                    "" for none (a room with no internet)
    turn_urls                       TM_TURN_URLS                    your own TURN server(s), e.g. coturn
    turn_username, turn_credential  TM_TURN_USERNAME, TM_TURN_CREDENTIAL   its fixed login
    cloudflare_turn_key_id,         CLOUDFLARE_TURN_KEY_ID,         Cloudflare Realtime TURN: short-lived
    cloudflare_turn_key_api_token   CLOUDFLARE_TURN_KEY_API_TOKEN   logins fetched with this key
    twilio_account_sid,             TWILIO_ACCOUNT_SID,             Twilio Network Traversal: the same
    twilio_auth_token               TWILIO_AUTH_TOKEN               (needs ``pip install twilio``)

A list is a TOML array or, in the environment, URLs separated by commas or spaces. The short-lived
logins are fetched with streamlit-webrtc's own helpers (``streamlit_webrtc.credentials``, cached for
an hour); when a fetch fails, the server log says why and the fixed servers are used alone, and
that service is not asked again for ``RETRY_AFTER_S`` seconds (each try can take 10 s). Values
that cannot be used (a URL that is not stun:/turn:, a TURN server without its login, half a key)
are left out with a warning in the server log. See docs/deploy.md.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from streamlit_webrtc import credentials

logger = logging.getLogger(__name__)

DEFAULT_STUN = ("stun:stun.l.google.com:19302",)
TABLE = "webrtc"  # the secrets.toml table
ENV = {  # [webrtc] key -> environment variable
    "stun_urls": "TM_STUN_URLS",
    "turn_urls": "TM_TURN_URLS",
    "turn_username": "TM_TURN_USERNAME",
    "turn_credential": "TM_TURN_CREDENTIAL",
    # The names streamlit-webrtc and fastrtc read, so a deploy set up for them works unchanged.
    "cloudflare_turn_key_id": "CLOUDFLARE_TURN_KEY_ID",
    "cloudflare_turn_key_api_token": "CLOUDFLARE_TURN_KEY_API_TOKEN",
    "twilio_account_sid": "TWILIO_ACCOUNT_SID",
    "twilio_auth_token": "TWILIO_AUTH_TOKEN",
}
RETRY_AFTER_S = 300.0
_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")


@dataclass(frozen=True)
class IceSettings:
    """What the secrets and the environment ask for, checked; no network involved."""

    stun_urls: tuple[str, ...] = DEFAULT_STUN
    turn_urls: tuple[str, ...] = ()
    turn_username: str | None = None
    turn_credential: str | None = None
    cloudflare: tuple[str, str] | None = None  # (key id, API token)
    twilio: tuple[str, str] | None = None  # (account SID, auth token)


def _raw(key: str, table: Mapping, environ: Mapping) -> object | None:
    env = ENV[key]
    if env in environ:
        return environ[env]
    return table.get(key)


def _urls(key: str, value: object | None, schemes: tuple[str, ...]) -> tuple[str, ...]:
    if value is None:
        return ()
    items = re.split(r"[,\s]+", value) if isinstance(value, str) else list(value) if isinstance(value, list | tuple) \
        else [value]
    kept = []
    for url in (str(u).strip() for u in items):
        if not url:
            continue
        if url.lower().startswith(schemes):
            kept.append(url)
        else:
            logger.warning("WebRTC: %s has %r, which is not a %s URL: left out", key, url, " or ".join(schemes))
    return tuple(kept)


def _text(key: str, table: Mapping, environ: Mapping) -> str | None:
    value = _raw(key, table, environ)
    return str(value).strip() or None if value is not None else None


def _pair(first: str, second: str, service: str, table: Mapping, environ: Mapping) -> tuple[str, str] | None:
    a, b = _text(first, table, environ), _text(second, table, environ)
    if a and b:
        return a, b
    if a or b:
        missing = second if a else first
        logger.warning("WebRTC: %s is missing (secrets [%s] %s or %s): %s is not used", missing, TABLE, missing,
                       ENV[missing], service)
    return None


def settings(secrets: Mapping | None = None, environ: Mapping | None = None) -> IceSettings:
    """The ICE settings in ``secrets`` (a mapping with an optional ``webrtc`` table, e.g. ``st.secrets``)
    and ``environ`` (e.g. ``os.environ``); the environment wins."""
    environ = environ if environ is not None else {}
    table = (secrets or {}).get(TABLE) or {}
    if not isinstance(table, Mapping):
        logger.warning("WebRTC: the secrets' %r is not a table: ignored", TABLE)
        table = {}
    raw_stun = _raw("stun_urls", table, environ)
    stun = DEFAULT_STUN if raw_stun is None else _urls("stun_urls", raw_stun, ("stun:", "stuns:"))
    turn = _urls("turn_urls", _raw("turn_urls", table, environ), ("turn:", "turns:"))
    user, credential = _text("turn_username", table, environ), _text("turn_credential", table, environ)
    if turn and not (user and credential):
        logger.warning("WebRTC: turn_urls is set without turn_username and turn_credential: the TURN server is "
                       "not used")
        turn = ()
    return IceSettings(
        stun_urls=stun, turn_urls=turn, turn_username=user if turn else None,
        turn_credential=credential if turn else None,
        cloudflare=_pair("cloudflare_turn_key_id", "cloudflare_turn_key_api_token", "Cloudflare TURN", table, environ),
        twilio=_pair("twilio_account_sid", "twilio_auth_token", "Twilio TURN", table, environ),
    )


_failed: dict[str, float] = {}  # service -> when its last fetch failed (monotonic)
_failed_lock = threading.Lock()


def _cloudflare(pair: tuple[str, str]) -> list[dict]:
    return list(credentials.get_cloudflare_ice_servers(turn_key_id=pair[0], turn_key_api_token=pair[1]))


def _twilio(pair: tuple[str, str]) -> list[dict]:
    return list(credentials.get_twilio_ice_servers(twilio_sid=pair[0], twilio_token=pair[1]))


FETCHERS: dict[str, Callable[[tuple[str, str]], list[dict]]] = {"cloudflare": _cloudflare, "twilio": _twilio}


def _fetched(service: str, pair: tuple[str, str] | None) -> list[dict]:
    """The servers and short-lived logins ``service`` gives for ``pair``, or [] (logged) when it cannot."""
    if pair is None:
        return []
    with _failed_lock:
        failed_at = _failed.get(service)
    if failed_at is not None and time.monotonic() - failed_at < RETRY_AFTER_S:
        return []
    try:
        servers = FETCHERS[service](pair)
    except Exception as err:  # noqa: BLE001 - a TURN service that cannot be reached must not stop the page
        logger.warning("WebRTC: could not get %s TURN logins (%s); trying again in %.0f s", service, err,
                       RETRY_AFTER_S)
        with _failed_lock:
            _failed[service] = time.monotonic()
        return []
    with _failed_lock:
        _failed.pop(service, None)
    return [dict(s) for s in servers if isinstance(s, Mapping) and s.get("urls")]


def forget_failures() -> None:
    """Ask the TURN services again on the next call (tests; after the network came back)."""
    with _failed_lock:
        _failed.clear()


def ice_servers(s: IceSettings) -> list[dict]:
    """``iceServers`` for an RTCConfiguration: the fixed TURN server, the fetched ones, then STUN."""
    servers: list[dict] = []
    if s.turn_urls:
        servers.append({"urls": list(s.turn_urls), "username": s.turn_username, "credential": s.turn_credential})
    servers += _fetched("cloudflare", s.cloudflare)
    servers += _fetched("twilio", s.twilio)
    if s.stun_urls:
        servers.append({"urls": list(s.stun_urls)})
    return servers
