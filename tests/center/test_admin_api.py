"""The administrators' API through a real center: every new action refused to operators
and supervisors (403) and without the CSRF token (403), done for an admin; bodies checked
(400 naming the field); the existing supervisor-only actions keep their checks; a plan
edited over the config's applies at once to an open alert (a removed step no longer
blocks its close, a new required one does), and a reset brings the config's back; no
password in any answer, audit entry or log line."""

from __future__ import annotations

import logging

import aiohttp
import pytest

from tests.center.conftest import alert_messages, center_running, write_alerts

pytestmark = pytest.mark.mqtt
ADMIN_PASSWORD = "admin-pass-123"
PLANS = {"intrusion": {"steps": [{"id": "check_video", "text": "Check the clip"},
                                 {"id": "call_site", "text": "Call the site guard"}]}}
# (path, a valid body) of every new state-changing action
ACTIONS = [
    ("/api/admin/users", {"name": "newbie", "role": "operator", "password": "newbie-pass-1"}),
    ("/api/admin/users/role", {"name": "olga", "role": "supervisor"}),
    ("/api/admin/users/password", {"name": "olga", "password": "olga-new-pass"}),
    ("/api/admin/users/disabled", {"name": "olga", "disabled": True}),
    ("/api/admin/plans/intrusion", {"steps": [{"id": "call_site", "text": "Call"}]}),
    ("/api/admin/plans/intrusion/reset", {}),
]


async def login(base: str, name: str, password: str) -> tuple[aiohttp.ClientSession, str]:
    s = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with s.post(f"{base}/api/login", json={"name": name, "password": password}) as r:
        assert r.status == 200, await r.text()
        return s, (await r.json())["csrf"]


async def post(s, url, csrf=None, body=None):
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    async with s.post(url, json=body if body is not None else {}, headers=headers) as r:
        return r.status, await r.json()


async def get(s, url):
    async with s.get(url) as r:
        return r.status, await r.json()


async def test_role_checks_csrf_and_validation_on_every_admin_action(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    async with center_running(tmp_path, plans=PLANS) as (run, _):
        run.center.store.add_user("ada", "admin", ADMIN_PASSWORD)
        base = run.base
        for name in ("olga", "sam"):  # operators and supervisors: 403 on every one
            s, csrf = await run.session(name)
            async with s:
                assert (await get(s, f"{base}/api/admin/users"))[0] == 403
                for path, body in ACTIONS:
                    status, answer = await post(s, base + path, csrf, body)
                    assert status == 403 and "admin" in answer["error"], (name, path)
                # everyone reads the plans
                status, plans = await get(s, f"{base}/api/plans")
                assert status == 200 and plans["plans"][0]["type"] == "intrusion"
        # the existing supervisor-only actions keep their checks
        (aid,) = write_alerts(run.center.store, alert_messages(camera="yard")[0])
        olga, csrf = await run.session("olga")
        async with olga:
            assert (await get(olga, f"{base}/api/audit"))[0] == 403
            assert (await post(olga, f"{base}/api/alerts/{aid}/false_alarm", csrf,
                               {"note": "wind"}))[0] == 403
        sam, _ = await run.session("sam")
        async with sam:
            assert (await get(sam, f"{base}/api/audit"))[0] == 200
        async with aiohttp.ClientSession() as anon:
            assert (await get(anon, f"{base}/api/admin/users"))[0] == 401
            assert (await get(anon, f"{base}/api/plans"))[0] == 401

        ada, csrf = await login(base, "ada", ADMIN_PASSWORD)
        async with ada:
            for path, body in ACTIONS:  # no CSRF token: 403, nothing done
                assert (await post(ada, base + path, None, body))[0] == 403, path
                assert (await post(ada, base + path, "wrong", body))[0] == 403, path
            assert run.center.store.plan_override("intrusion") is None
            # bodies checked, the field named
            for path, body, field in [
                ("/api/admin/users", {"name": "x", "role": "boss", "password": "p" * 8},
                 "role"),
                ("/api/admin/users", {"name": " x", "role": "operator", "password": "p" * 8},
                 "name"),
                ("/api/admin/users", {"name": "x" * 65, "role": "operator",
                                      "password": "p" * 8}, "name"),
                ("/api/admin/users", {"name": "x", "role": "operator", "password": "short"},
                 "password"),
                ("/api/admin/users", {"name": "x", "role": "operator", "password": "p" * 1025},
                 "password"),
                ("/api/admin/users", {"name": "x", "role": "operator"}, "password"),
                ("/api/admin/users", {"name": "x", "role": "operator", "password": "p" * 8,
                                      "admin": True}, "admin"),
                ("/api/admin/users/disabled", {"name": "olga", "disabled": "yes"}, "disabled"),
                ("/api/admin/users/role", {"name": 5, "role": "admin"}, "name"),
                ("/api/admin/plans/intrusion", {"steps": []}, "steps"),
                ("/api/admin/plans/intrusion", {"steps": [{"id": "A B", "text": "x"}]},
                 "steps.0.id"),
                ("/api/admin/plans/intrusion", {"steps": [{"id": "a", "text": "x" * 201}]},
                 "steps.0.text"),
                ("/api/admin/plans/intrusion", {"steps": [{"id": "a", "text": "x"}] * 21},
                 "steps"),
                ("/api/admin/plans/intrusion", {"steps": [{"id": "a", "text": "x"},
                                                          {"id": "a", "text": "y"}]}, "steps"),
                ("/api/admin/plans/intrusion", {"steps": [{"id": "a", "text": "x",
                                                           "required": "yes"}]},
                 "steps.0.required"),
                ("/api/admin/plans/Bad-Type", {"steps": [{"id": "a", "text": "x"}]}, "type"),
            ]:
                status, answer = await post(ada, base + path, csrf, body)
                assert (status, answer.get("field")) == (400, field), (path, body, answer)
            async with ada.post(f"{base}/api/admin/users", data="name=x",
                                headers={"X-CSRF-Token": csrf}) as r:
                assert r.status == 415
            # an admin succeeds
            status, users = await get(ada, f"{base}/api/admin/users")
            assert status == 200 and [u["name"] for u in users["users"]] == ["ada", "olga",
                                                                             "sam"]
            assert set(users["users"][0]) == {"name", "role", "created_at", "last_login",
                                              "disabled"}
            status, body = await post(ada, base + ACTIONS[0][0], csrf, ACTIONS[0][1])
            assert status == 201
            assert (await post(ada, base + ACTIONS[0][0], csrf, ACTIONS[0][1]))[0] == 409
            for path, body in ACTIONS[1:]:
                assert (await post(ada, base + path, csrf, body))[0] == 200, path
            assert (await post(ada, base + ACTIONS[-1][0], csrf))[0] == 404  # nothing to reset
            assert (await post(ada, f"{base}/api/admin/users/role", csrf,
                               {"name": "nobody", "role": "admin"}))[0] == 404
            status, body = await post(ada, f"{base}/api/admin/users/role", csrf,
                                      {"name": "ada", "role": "operator"})
            assert status == 409 and "last enabled admin" in body["error"]
            assert (await post(ada, f"{base}/api/admin/users/disabled", csrf,
                               {"name": "ada", "disabled": True}))[0] == 409
            async with ada.get(f"{base}/api/audit") as r:
                audit = [(e["name"], e["action"]) for e in reversed((await r.json())["audit"])
                         if e["action"].startswith(("user_", "plan_"))]
            assert audit == [("ada", "user_add"), ("ada", "user_role"),
                             ("ada", "user_password"), ("ada", "user_disable"),
                             ("ada", "plan_set"), ("ada", "plan_reset")]
            everything = repr(run.center.store.audit()) + caplog.text
            for password in ("newbie-pass-1", "olga-new-pass", ADMIN_PASSWORD):
                assert password not in everything
        # the disabled operator cannot log in; the new one can
        async with aiohttp.ClientSession() as s, s.post(
                f"{base}/api/login", json={"name": "olga", "password": "olga-new-pass"}) as r:
            assert r.status == 401
        newbie, _ = await login(base, "newbie", "newbie-pass-1")
        await newbie.close()


async def test_an_edited_plan_applies_to_open_alerts_and_a_reset_restores_the_config(
        tmp_path):
    async with center_running(tmp_path, plans=PLANS) as (run, _):
        run.center.store.add_user("ada", "admin", ADMIN_PASSWORD)
        (aid,) = write_alerts(run.center.store, alert_messages()[0])
        url = f"{run.base}/api/alerts/{aid}"
        ada, csrf = await login(run.base, "ada", ADMIN_PASSWORD)
        olga, ocsrf = await run.session("olga")
        async with ada, olga:
            await post(olga, f"{url}/acknowledge", ocsrf)
            await post(olga, f"{url}/steps/check_video", ocsrf)
            status, body = await post(olga, f"{url}/close", ocsrf, {"outcome": "confirmed"})
            assert status == 409 and body["missing"] == ["call_site"]
            # call_site removed, a new required step added: it blocks the close instead
            steps = [{"id": "check_video", "text": "Check the clip"},
                     {"id": "radio_patrol", "text": "Radio the patrol"},
                     {"id": "photo", "text": "Keep a photo", "required": False}]
            assert (await post(ada, f"{run.base}/api/admin/plans/intrusion", csrf,
                               {"steps": steps}))[0] == 200
            status, a = await get(olga, url)
            assert [s["id"] for s in a["plan"]] == ["check_video", "radio_patrol", "photo"]
            status, body = await post(olga, f"{url}/close", ocsrf, {"outcome": "confirmed"})
            assert status == 409 and body["missing"] == ["radio_patrol"]
            assert (await post(olga, f"{url}/steps/call_site", ocsrf))[0] == 404  # gone
            status, plans = await get(olga, f"{run.base}/api/plans")
            (p,) = plans["plans"]
            assert (p["source"], p["by"], [s["id"] for s in p["default"]]) == (
                "console", "ada", ["check_video", "call_site"])
            # a type with no plan in the config gets one
            assert (await post(ada, f"{run.base}/api/admin/plans/loitering", csrf,
                               {"steps": [{"id": "look", "text": "Look"}]}))[0] == 200
            # reset: the config's plan again, its call_site blocking
            assert (await post(ada, f"{run.base}/api/admin/plans/intrusion/reset", csrf))[
                0] == 200
            status, body = await post(olga, f"{url}/close", ocsrf, {"outcome": "confirmed"})
            assert status == 409 and body["missing"] == ["call_site"]
            await post(olga, f"{url}/steps/call_site", ocsrf)
            status, a = await post(olga, f"{url}/close", ocsrf, {"outcome": "confirmed"})
            assert status == 200 and a["state"] == "closed"
            status, plans = await get(olga, f"{run.base}/api/plans")
            assert [(p["type"], p["source"]) for p in plans["plans"]] == [
                ("intrusion", "config"), ("loitering", "console")]
