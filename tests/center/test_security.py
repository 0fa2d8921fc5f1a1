"""The command center's HTTP side under attack, against the real service (a real mosquitto,
the real store, real HTTP over loopback): login floods and guessing (bounded bodies, a
bounded audit log, per-client and per-name lockouts, the same work for every name), login
CSRF, bodies that are not JSON objects, sessions that outlive a password change, the
security headers on every answer, the WebSocket's Origin, and JSON that is always valid."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web

from center.config import CenterConfig, CenterHttpConfig
from center.http import Api, Hub, make_app
from center.service import Center
from center.store import Filters, Store, open_store
from tests.center.conftest import PASSWORDS, Running, alert_messages, publish, wait_until
from tools.broker import Broker, free_port

pytestmark = pytest.mark.mqtt
CENTER = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "edge-center")


def strict(text: str):
    """JSON as a browser's JSON.parse reads it: NaN and Infinity are errors."""
    def refuse(name):
        raise ValueError(f"{name} is not JSON")
    return json.loads(text, parse_constant=refuse)


async def login(base: str, name: str, password: str, session: aiohttp.ClientSession | None
                = None, **kwargs) -> tuple[int, dict, aiohttp.typedefs.LooseHeaders]:
    own = session is None
    s = session or aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        async with s.post(f"{base}/api/login", json={"name": name, "password": password},
                          **kwargs) as r:
            return r.status, await r.json(content_type=None), r.headers
    finally:
        if own:
            await s.close()


def audit_rows(store: Store, action: str | None = None) -> list[tuple]:
    where, args = (" WHERE action = ?", (action,)) if action else ("", ())
    return store._run(f"SELECT name, action, detail FROM audit{where}", args)


@contextlib.asynccontextmanager
async def center_on(tmp_path: Path, storage_url: str) -> AsyncIterator[Running]:
    """The conftest's ``running``, on a store of the test's choosing."""
    broker = Broker(tmp_path)
    broker.start()
    port = free_port()
    center = Center(CenterConfig.model_validate({
        "mqtt": {"url": f"mqtt://127.0.0.1:{broker.port}"},
        "storage": {"url": storage_url},
        "http": {"listen": f"127.0.0.1:{port}", "secure_cookies": False}}))
    for name, role in (("olga", "operator"), ("sam", "supervisor")):
        center.store.add_user(name, role, PASSWORDS[name])
    stop = asyncio.Event()
    task = asyncio.create_task(center.run(stop))
    try:
        await wait_until(lambda: center.ingest.connected)
        yield Running(center, f"http://127.0.0.1:{port}", task, stop)
    finally:
        stop.set()
        await task
        broker.kill()


@contextlib.asynccontextmanager
async def api_on(tmp_path: Path, http: CenterHttpConfig, secure: bool = False
                 ) -> AsyncIterator[tuple[Api, str]]:
    """The Api alone (no broker), on a real SQLite store and loopback HTTP, with an
    ``http`` config of the test's choosing."""
    store = open_store(f"sqlite:///{tmp_path}/api.db")
    store.add_user("olga", "operator", PASSWORDS["olga"])
    api = Api(store, Hub(), http.model_copy(update={"secure_cookies": secure}), lambda: b"")
    runner = web.AppRunner(make_app(api), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield api, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
        store.close()


# -- 1. the login body and the audit log are bounded -------------------------------------------
async def test_a_login_body_is_bounded_and_so_is_the_audit_log(running):
    run, _ = running
    store = run.center.store
    before = len(audit_rows(store))
    for body in ({"name": "n" * 60_000, "password": "x"},       # a 60 KB name
                 {"name": "olga", "password": "p" * 1025},      # over 1,024
                 {"name": "", "password": "x"},
                 {"name": "ol\nga", "password": "x"},           # a control character
                 {"name": 17, "password": "x"},                 # not text
                 {"name": "olga", "password": None}):
        async with aiohttp.ClientSession() as s, s.post(f"{run.base}/api/login",
                                                        json=body) as r:
            assert r.status == 400, body
            assert "error" in await r.json()
    assert len(audit_rows(store)) == before  # nothing stored for a refused body
    # whatever a caller gives, an audit entry stays small
    store.log("n" * 60_000, "login_failed", "d" * 60_000)
    (entry,) = store.audit(limit=1)
    assert entry["name"].startswith("nnn") and len(entry["name"]) <= 64
    assert entry["detail"].startswith("ddd") and len(entry["detail"]) <= 500


async def test_a_flood_of_failed_logins_from_one_client_stops_after_a_few(running, caplog):
    """Before: each of these stored its name in the audit log, without end."""
    run, _ = running
    store = run.center.store
    caplog.set_level(logging.INFO, logger="center")
    before = len(audit_rows(store))
    async with aiohttp.ClientSession() as s:
        async def guess(i: int):
            async with s.post(f"{run.base}/api/login", json={
                    "name": f"guess-{i:04d}-" + "x" * 50, "password": "letmein"}) as r:
                return r.status, await r.json(), r.headers.get("Retry-After")
        answers = await asyncio.gather(*(guess(i) for i in range(100)))
    statuses = [a[0] for a in answers]
    assert statuses.count(401) == 20 and statuses.count(429) == 80
    for status, body, retry in answers:
        if status == 429:
            assert 1 <= int(retry) <= 900 and "too many failed logins" in body["error"]
    rows = audit_rows(store)[before:]
    assert len([r for r in rows if r[1] == "login_failed"]) == 20
    assert len([r for r in rows if r[1] == "login_locked"]) == 1  # once, not per attempt
    assert sum(len(n) + len(d or "") for n, _, d in rows) < 20 * 200
    assert len([r for r in caplog.records if "locked" in r.getMessage()]) == 1
    api = run.center.api
    assert (api.logins["failed"], api.logins["locked"], api.logins["ok"]) == (20, 80, 0)
    # the client is locked, even with the right password; another client is not
    assert (await login(run.base, "olga", PASSWORDS["olga"]))[0] == 429
    other = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(connector=other) as s:
        assert (await login(run.base, "olga", PASSWORDS["olga"], session=s))[0] == 200


async def test_five_wrong_passwords_lock_the_name_until_the_lockout_expires(running):
    run, _ = running
    api = run.center.api
    async def four_wrong() -> None:
        results = await asyncio.gather(*(login(run.base, "olga", "wrong") for _ in range(4)))
        assert [r[0] for r in results] == [401] * 4

    # a success clears the name's failures: 4 wrong, 1 right, 4 wrong is no lockout
    await four_wrong()
    assert (await login(run.base, "olga", PASSWORDS["olga"]))[0] == 200
    await four_wrong()
    assert (await login(run.base, "olga", "wrong"))[0] == 401  # the 5th in a row
    status, body, headers = await login(run.base, "olga", PASSWORDS["olga"])
    assert status == 429 and 800 <= int(headers["Retry-After"]) <= 900
    assert body == {"error": body["error"], "retry_after": int(headers["Retry-After"])}
    # from another client too: the name is locked, wherever the guesses come from
    other = aiohttp.TCPConnector(local_addr=("127.0.0.3", 0))
    async with aiohttp.ClientSession(connector=other) as s:
        assert (await login(run.base, "olga", PASSWORDS["olga"], session=s))[0] == 429
    # another name is not
    assert (await login(run.base, "sam", PASSWORDS["sam"]))[0] == 200
    locked = [r for r in audit_rows(run.center.store, "login_locked")]
    assert len(locked) == 1 and locked[0][0] == "olga"
    assert api.throttle.lockouts["name"] == 1
    # 15 minutes later, it opens
    real = api.throttle.clock
    api.throttle.clock = lambda: real() + 901
    assert (await login(run.base, "olga", PASSWORDS["olga"]))[0] == 200


async def test_known_and_unknown_names_cost_the_same_hashing(running, monkeypatch):
    """Before: an unknown name skipped scrypt, so it answered measurably faster."""
    run, _ = running
    real = hashlib.scrypt
    hashed: list[int] = []

    def counting(*args, **kwargs):
        hashed.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    assert (await login(run.base, "olga", "wrong-password"))[0] == 401
    assert len(hashed) == 1
    assert (await login(run.base, "nobody-by-this-name", "wrong-password"))[0] == 401
    assert len(hashed) == 2
    assert (await login(run.base, "sam", PASSWORDS["sam"]))[0] == 200
    assert len(hashed) == 3


def test_the_throttles_memory_is_bounded_and_its_lockouts_expire():
    """Unlimited names cannot grow the table: the oldest entries go."""
    from center.auth import LoginThrottle
    now = [1000.0]
    t = LoginThrottle(max_per_name=3, max_per_client=1_000_000, window_s=60,
                      lockout_s=120, max_entries=100, clock=lambda: now[0])
    for i in range(10_000):
        attempt = t.begin("10.0.0.1", f"name-{i}")
        assert not isinstance(attempt, float)
        t.failed(attempt)
    assert len(t.names) == 100 and len(t.clients) == 1
    for _ in range(3):
        t.failed(t.begin("10.0.0.2", "olga"))
    assert t.begin("10.0.0.2", "olga") == 120.0
    now[0] += 60
    assert t.begin("10.0.0.9", "olga") == 60.0
    now[0] += 61
    assert not isinstance(t.begin("10.0.0.9", "olga"), float)


async def test_the_login_limits_and_trusted_proxies_come_from_the_config(tmp_path):
    """Behind a trusted proxy the client is the address it forwards, not the proxy."""
    http = CenterHttpConfig(login_max_failures_per_client=2, login_max_failures_per_name=50,
                            trusted_proxies=["127.0.0.1/32"])
    async with api_on(tmp_path, http) as (api, base):
        assert api.throttle.max_per_client == 2
        for _ in range(2):
            status, _, _ = await login(base, "x", "y", headers={"X-Forwarded-For":
                                                                "203.0.113.7"})
            assert status == 401
        assert (await login(base, "olga", PASSWORDS["olga"], headers={
            "X-Forwarded-For": "203.0.113.7"}))[0] == 429
        # another client behind the same proxy; a forged leftmost entry changes nothing
        assert (await login(base, "olga", PASSWORDS["olga"], headers={
            "X-Forwarded-For": "203.0.113.7, 198.51.100.1"}))[0] == 200
        assert set(api.throttle.clients) == {"203.0.113.7", "198.51.100.1"}


# -- 3. login CSRF ------------------------------------------------------------------------------
async def test_a_cross_site_form_cannot_log_a_browser_in(running):
    run, broker = running
    body = json.dumps({"name": "olga", "password": PASSWORDS["olga"]})
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        # what an HTML form can send: text/plain, a form encoding
        for ctype in ("text/plain", "application/x-www-form-urlencoded"):
            async with s.post(f"{run.base}/api/login", data=body,
                              headers={"Content-Type": ctype}) as r:
                assert r.status == 415 and "application/json" in (await r.json())["error"]
                assert "Set-Cookie" not in r.headers
        for headers in ({"Origin": "http://evil.example"},
                        {"Origin": run.base.replace("http:", "https:")},
                        {"Origin": "null"},
                        {"Sec-Fetch-Site": "cross-site"}):
            status, _, h = await login(run.base, "olga", PASSWORDS["olga"], session=s,
                                            headers=headers)
            assert status == 403 and "Set-Cookie" not in h, headers
        assert len(s.cookie_jar) == 0
        status, _, _ = await login(run.base, "olga", PASSWORDS["olga"], session=s,
                                   headers={"Origin": run.base,
                                            "Sec-Fetch-Site": "same-origin"})
        assert status == 200
        csrf = (await (await s.get(f"{run.base}/api/me")).json())["csrf"]
        # every POST with a body: JSON only
        msgs = alert_messages()
        await publish(broker.port, [("edge/n1/alerts/gate", json.dumps(msgs[0]).encode())])
        await wait_until(lambda: run.center.ingest.stored == 1)
        async with s.post(f"{run.base}/api/alerts/{msgs[0]['id']}/acknowledge",
                          data="{}", headers={"X-CSRF-Token": csrf,
                                              "Content-Type": "text/plain"}) as r:
            assert r.status == 415
    assert run.center.api.refused["media_type"] == 3
    assert run.center.api.refused["cross_site"] == 4


# -- 4. bodies that are not JSON objects ------------------------------------------------------
async def test_a_body_that_is_not_a_json_object_is_a_400(running):
    run, broker = running
    msgs = alert_messages()
    await publish(broker.port, [("edge/n1/alerts/gate", json.dumps(msgs[0]).encode())])
    await wait_until(lambda: run.center.ingest.stored == 1)
    s, csrf = await run.session("olga")
    async with s:
        url = f"{run.base}/api/alerts/{msgs[0]['id']}/acknowledge"
        for raw in ("[]", "1", '"x"', "null", '{"note": NaN}', '{"note": 1e999}', "{",
                    '{"note": ' + "[" * 20_000 + "]" * 20_000 + "}"):  # 40 KB, too deep
            async with s.post(url, data=raw, headers={"X-CSRF-Token": csrf,
                                                      "Content-Type": "application/json"}
                               ) as r:
                assert r.status == 400, raw[:20]
                assert "JSON object" in strict(await r.text())["error"]
        for raw in ("[]", '{"name": "olga", "password": NaN}', '"olga"'):
            async with s.post(f"{run.base}/api/login", data=raw,
                              headers={"Content-Type": "application/json"}) as r:
                assert r.status == 400, raw
        async with s.post(url, json={"note": "fine"}, headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 200 and (await r.json())["state"] == "acknowledged"
    assert run.center.api.refused["bad_body"] >= 10


# -- 5. sessions ----------------------------------------------------------------------------------
def _cli_config(tmp_path: Path, storage_url: str) -> Path:
    cfg = tmp_path / "cli.yaml"
    cfg.write_text(yaml.safe_dump({"mqtt": {"url": "mqtt://127.0.0.1:1"},
                                   "storage": {"url": storage_url}}))
    return cfg


async def test_a_password_or_role_change_ends_the_users_sessions(running, tmp_path):
    run, _ = running
    cfg = _cli_config(tmp_path, run.center.config.storage.url)
    olga, _ = await run.session("olga")
    sam, _ = await run.session("sam")
    async with olga, sam:
        changed = await asyncio.to_thread(subprocess.run, [
            CENTER, "user", "olga", "--role", "operator", "--config", str(cfg)],
            capture_output=True, text=True, timeout=60,
            env={**os.environ, "EDGE_CENTER_PASSWORD": "a-new-password-1"})
        assert changed.returncode == 0, changed.stderr
        async with olga.get(f"{run.base}/api/me") as r:
            assert r.status == 401  # before: the old session went on
        async with sam.get(f"{run.base}/api/me") as r:
            assert r.status == 200  # another user's is untouched
        run.center.store.add_user("sam", "admin", PASSWORDS["sam"])  # a role change
        async with sam.get(f"{run.base}/api/me") as r:
            assert r.status == 401


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_expired_sessions_are_purged(backend, tmp_path, request):
    url = (f"sqlite:///{tmp_path}/s.db" if backend == "sqlite" else
           request.getfixturevalue("postgres").create(f"s{uuid.uuid4().hex[:8]}"))
    store = open_store(url)
    try:
        store.add_user("olga", "operator", PASSWORDS["olga"])
        expired = [store.login("olga", PASSWORDS["olga"], -1.0) for _ in range(3)]
        live = store.login("olga", PASSWORDS["olga"], 3600.0)
        assert all(store.session(t) is None for t, _ in expired)
        assert store.purge_sessions() == 3
        assert store.purge_sessions() == 0
        assert store.session(live[0]) is not None
        assert store._run("SELECT COUNT(*) FROM sessions")[0][0] == 1
    finally:
        store.close()


# -- 6. edge-center user and an unreachable PostgreSQL ----------------------------------------
def test_edge_center_user_says_one_line_when_postgresql_is_unreachable(tmp_path):
    db_secret, user_secret = "pg-secret-0815", "user-secret-4711"
    cfg = _cli_config(tmp_path, f"postgresql://center:{db_secret}@127.0.0.1:{free_port()}"
                                "/center")
    result = subprocess.run([CENTER, "user", "olga", "--config", str(cfg)],
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, "EDGE_CENTER_PASSWORD": user_secret})
    out = result.stdout + result.stderr
    assert result.returncode == 1
    assert "Traceback" not in out and len(result.stderr.strip().splitlines()) == 1, out
    assert "cannot open the store" in result.stderr
    assert db_secret not in out and user_secret not in out


def test_edge_center_user_refuses_a_name_nobody_could_log_in_with(tmp_path):
    cfg = _cli_config(tmp_path, f"sqlite:///{tmp_path}/c.db")
    for name in ("x" * 65, "ol\tga"):
        result = subprocess.run([CENTER, "user", name, "--config", str(cfg)],
                                capture_output=True, text=True, timeout=60,
                                env={**os.environ, "EDGE_CENTER_PASSWORD": "long-enough-1"})
        assert result.returncode == 2 and "name" in result.stderr


# -- 7. the security headers on every answer ---------------------------------------------------
async def test_every_answer_has_the_security_headers(running):
    run, _ = running
    s, csrf = await run.session("olga")
    async with s:
        for method, path, status in (("GET", "/api/no-such-thing", 404),
                                     ("GET", "/console/no-such-file.js", 404),
                                     ("PUT", "/api/login", 405),
                                     ("DELETE", "/api/alerts", 405),
                                     ("GET", "/api/alerts/nope", 404),
                                     ("GET", "/api/me", 200)):
            async with s.request(method, run.base + path,
                                 headers={"X-CSRF-Token": csrf}) as r:
                assert r.status == status, path
                assert "script-src 'self'" in r.headers.get("Content-Security-Policy", ""), \
                    (method, path)
                assert r.headers.get("X-Content-Type-Options") == "nosniff"
        async with s.post(f"{run.base}/api/alerts/x/acknowledge", data=b"{" * 70_000,
                          headers={"X-CSRF-Token": csrf,
                                   "Content-Type": "application/json"}) as r:
            assert r.status == 413 and "Content-Security-Policy" in r.headers
    async with aiohttp.ClientSession() as anon, anon.get(run.base + "/nowhere") as r:
        assert r.status == 401 and "Content-Security-Policy" in r.headers


# -- 8. the WebSocket's Origin: scheme and host ------------------------------------------------
async def test_the_websocket_origin_must_match_scheme_and_host(running):
    run, _ = running
    ws_url = run.base.replace("http", "ws") + "/api/ws"
    port = run.base.rsplit(":", 1)[1]
    s, _ = await run.session("olga")
    async with s:
        for origin in (run.base.replace("http:", "https:"), "http://127.0.0.1.evil.example",
                       f"http://localhost:{port}", "http://127.0.0.1:1", "null",
                       f"ftp://127.0.0.1:{port}"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await s.ws_connect(ws_url, origin=origin)
            assert err.value.status == 403, origin
            assert "script-src 'self'" in err.value.headers["Content-Security-Policy"]
        for origin in (run.base, None):
            ws = await s.ws_connect(ws_url, origin=origin)
            await ws.close()
    assert run.center.api.refused["cross_site"] == 6


async def test_behind_tls_the_origin_must_be_https(tmp_path):
    """secure_cookies on: the center sits behind TLS (a proxy ends it), so the browser's
    Origin is https:// even though this hop is plain HTTP."""
    async with api_on(tmp_path, CenterHttpConfig(), secure=True) as (_, base):
        https = base.replace("http:", "https:")
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{base}/api/login", headers={"Origin": base}, json={
                    "name": "olga", "password": PASSWORDS["olga"]}) as r:
                assert r.status == 403
            async with s.post(f"{base}/api/login", headers={"Origin": https}, json={
                    "name": "olga", "password": PASSWORDS["olga"]}) as r:
                assert r.status == 200
                cookie = r.headers["Set-Cookie"].split(";", 1)[0]
            ws_url = base.replace("http", "ws") + "/api/ws"
            with pytest.raises(aiohttp.WSServerHandshakeError):
                await s.ws_connect(ws_url, origin=base, headers={"Cookie": cookie})
            ws = await s.ws_connect(ws_url, origin=https, headers={"Cookie": cookie})
            await ws.close()


# -- 9. JSON out is always valid --------------------------------------------------------------
async def _nan_everywhere(run: Running, broker_port: int | None, sql_nan: str) -> str:
    msgs = alert_messages()
    if broker_port is not None:
        await publish(broker_port, [("edge/n1/alerts/gate", json.dumps(msgs[0]).encode())])
        await wait_until(lambda: run.center.ingest.stored == 1)
    else:
        run.center.store.write_messages([msgs[0]])
    aid = msgs[0]["id"]
    store = run.center.store
    # rows as an old version, or a hand-made repair, may have left them
    store._run(f"UPDATE alerts SET score = {sql_nan}, objects = "
               "'[{\"label\": \"person\", \"score\": NaN, \"box\": [0, 0, 1, 1]}]' WHERE id = ?",
               (aid,))
    store._run("UPDATE messages SET body = '{\"seq\": 0, \"score\": NaN}' WHERE id = ?", (aid,))
    store.set_status("n1", "online")
    store._run("UPDATE nodes SET health = '{\"fps\": Infinity}' WHERE node = 'n1'")
    return aid


async def _check_strict(run: Running, aid: str) -> None:
    s, csrf = await run.session("olga")
    async with s:
        for path in ("/api/alerts", f"/api/alerts/{aid}", "/api/board"):
            async with s.get(run.base + path) as r:
                assert r.status == 200
                strict(await r.text())
        async with s.ws_connect(run.base.replace("http", "ws") + "/api/ws") as ws:
            async with s.post(f"{run.base}/api/alerts/{aid}/acknowledge",
                              headers={"X-CSRF-Token": csrf}) as r:
                assert r.status == 200
                assert strict(await r.text())["objects"][0]["score"] is None
            pushed = strict((await ws.receive(timeout=5)).data)
            assert pushed["event"] == "state" and pushed["alert"]["objects"][0]["score"] is None


async def test_the_api_never_sends_invalid_json_sqlite(running):
    run, broker = running
    aid = await _nan_everywhere(run, broker.port, "score")  # SQLite stores NaN as NULL
    await _check_strict(run, aid)


async def test_the_api_never_sends_invalid_json_postgresql(tmp_path, postgres):
    async with center_on(tmp_path, postgres.create("nanjson")) as run:
        aid = await _nan_everywhere(run, None, "'NaN'::float8")
        (alert,) = run.center.store.alerts(Filters())
        assert alert["score"] != alert["score"]  # NaN, as stored
        await _check_strict(run, aid)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
            assert (await login(run.base, "olga", PASSWORDS["olga"], session=s))[0] == 200
            async with s.get(f"{run.base}/api/alerts") as r:
                assert strict(await r.text())["alerts"][0]["score"] is None


async def test_the_login_metrics_pass_promtool(running):
    """The Api is a Prometheus collector: center_logins_total{outcome},
    center_login_lockouts_total{kind}, center_login_locked, center_http_refused_total."""
    from prometheus_client import CollectorRegistry, generate_latest
    run, _ = running
    assert (await login(run.base, "olga", "wrong"))[0] == 401
    assert (await login(run.base, "olga", PASSWORDS["olga"]))[0] == 200
    registry = CollectorRegistry(auto_describe=False)
    registry.register(run.center.api)
    text = generate_latest(registry).decode()
    for line in ('center_logins_total{outcome="failed"} 1.0',
                 'center_logins_total{outcome="ok"} 1.0',
                 'center_login_lockouts_total{kind="name"} 0.0', "center_login_locked 0.0",
                 'center_http_refused_total{reason="bad_body"} 0.0'):
        assert line in text
    lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                          text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
