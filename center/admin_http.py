"""The administrators' API (behind the same guard as every route: a session, and on every
POST the session's CSRF token; each of these routes but reading the plans needs the admin
role, else 403):

    GET  /api/admin/users                  the users: name, role, created, last login, disabled
    POST /api/admin/users                  {"name", "role", "password"}: a new user (201)
    POST /api/admin/users/role             {"name", "role"}
    POST /api/admin/users/password         {"name", "password"}
    POST /api/admin/users/disabled         {"name", "disabled": true|false}
    GET  /api/plans                        every plan in force, with its source (any role)
    POST /api/admin/plans/{type}           {"steps": [{"id", "text", "required"}, ...]}
    POST /api/admin/plans/{type}/reset     back to the config's plan

A user's changed role, password or disabling ends their sessions. The last enabled admin
can be neither demoted nor disabled (409). Every change is audited, never a password.
Bodies are checked before anything is stored: what is wrong is answered 400 naming the
field (``{"error": ..., "field": ...}``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from center.admin_store import AdminError
from center.auth import MAX_NAME, password_problem, valid_name
from center.http import USER, Api, answer
from center.plans import Plan
from center.store import ROLES, User, hash_password

TYPE = re.compile(r"^[a-z0-9_]{1,64}$")  # an alert type, as the config's plans name it


class BadBody(ValueError):
    def __init__(self, field: str, text: str) -> None:
        super().__init__(f"{field}: {text}")
        self.field = field


def _fields(body: dict[str, Any], *names: str) -> None:
    """Refuses a body with other keys or without one of ``names``."""
    if extra := sorted(set(body) - set(names)):
        raise BadBody(str(extra[0])[:MAX_NAME], "not expected here")
    for name in names:
        if name not in body:
            raise BadBody(name, "missing")


def _name(body: dict[str, Any]) -> str:
    name = body["name"]
    if not valid_name(name):
        raise BadBody("name", f"1 to {MAX_NAME} printable characters, no blank at either end")
    return name


def _role(body: dict[str, Any]) -> str:
    if body["role"] not in ROLES:
        raise BadBody("role", f"one of {', '.join(ROLES)}")
    return body["role"]


def _password(body: dict[str, Any]) -> str:
    if problem := password_problem(body["password"]):
        raise BadBody("password", problem)
    return body["password"]


class AdminRoutes:
    """Users and action plans; ``api``: the store, its thread hop and the config's plans."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.db: Callable[..., Any] = api.db
        self.store = api.store

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/admin/users", self.users),
            web.post("/api/admin/users", self.add_user),
            web.post("/api/admin/users/role", self.set_role),
            web.post("/api/admin/users/password", self.set_password),
            web.post("/api/admin/users/disabled", self.set_disabled),
            web.get("/api/plans", self.plans),
            web.post("/api/admin/plans/{type}", self.set_plan),
            web.post("/api/admin/plans/{type}/reset", self.reset_plan),
        ]

    async def _admin(self, request: web.Request, *fields: str
                     ) -> tuple[User, dict[str, Any]] | web.Response:
        """The admin and the checked body, or the answer that refuses them."""
        user: User = request[USER][0]
        if not user.may("admin"):
            return answer({"error": "this needs the admin role"}, 403)
        body: dict[str, Any] = {}
        if request.method == "POST":
            got = await self.api._object(request)
            if isinstance(got, web.Response):
                return got
            body = got
            try:
                _fields(body, *fields)
            except BadBody as exc:
                return self._bad(exc)
        return user, body

    def _bad(self, exc: BadBody) -> web.Response:
        self.api.refused["bad_body"] += 1
        return answer({"error": str(exc), "field": exc.field}, 400)

    async def _change(self, fn: Callable[..., Any], *args: Any) -> web.Response:
        try:
            await self.db(fn, *args)
        except AdminError as exc:
            return answer({"error": str(exc)}, exc.status)
        return answer({"ok": True})

    # -- users ----------------------------------------------------------------------------
    async def users(self, request: web.Request) -> web.Response:
        found = await self._admin(request)
        if isinstance(found, web.Response):
            return found
        return answer({"users": await self.db(self.store.users), "roles": list(ROLES)})

    async def add_user(self, request: web.Request) -> web.Response:
        found = await self._admin(request, "name", "role", "password")
        if isinstance(found, web.Response):
            return found
        admin, body = found
        try:
            name, role, password = _name(body), _role(body), _password(body)
        except BadBody as exc:
            return self._bad(exc)
        async with self.api.hashing:  # scrypt: as many at once as logins
            hashed = await asyncio.to_thread(hash_password, password)
        response = await self._change(self.store.create_user, name, role, hashed, admin.name)
        return answer({"ok": True}, 201) if response.status == 200 else response

    async def set_role(self, request: web.Request) -> web.Response:
        found = await self._admin(request, "name", "role")
        if isinstance(found, web.Response):
            return found
        admin, body = found
        try:
            name, role = _name(body), _role(body)
        except BadBody as exc:
            return self._bad(exc)
        return await self._change(self.store.set_role, name, role, admin.name)

    async def set_password(self, request: web.Request) -> web.Response:
        found = await self._admin(request, "name", "password")
        if isinstance(found, web.Response):
            return found
        admin, body = found
        try:
            name, password = _name(body), _password(body)
        except BadBody as exc:
            return self._bad(exc)
        async with self.api.hashing:
            hashed = await asyncio.to_thread(hash_password, password)
        return await self._change(self.store.set_password, name, hashed, admin.name)

    async def set_disabled(self, request: web.Request) -> web.Response:
        found = await self._admin(request, "name", "disabled")
        if isinstance(found, web.Response):
            return found
        admin, body = found
        try:
            name = _name(body)
            if not isinstance(body["disabled"], bool):
                raise BadBody("disabled", "true or false")
        except BadBody as exc:
            return self._bad(exc)
        return await self._change(self.store.set_disabled, name, body["disabled"], admin.name)

    # -- action plans ---------------------------------------------------------------------
    async def plans(self, request: web.Request) -> web.Response:
        """Every plan in force: the console's over the config's, each with its source and
        the config's plan it replaces (``default``, null if none)."""
        config = self.api.plans
        edited = {o["type"]: o for o in await self.db(self.store.plan_overrides)}
        out = []
        for kind in sorted(set(config) | set(edited)):
            default = [s.model_dump() for s in config[kind].steps] if kind in config else None
            if kind in edited:
                o = edited[kind]
                steps = [s.model_dump() for s in Plan.model_validate_json(o["steps"]).steps]
                out.append({"type": kind, "source": "console", "steps": steps,
                            "default": default, "at": o["at"], "by": o["by"]})
            else:
                out.append({"type": kind, "source": "config", "steps": default,
                            "default": default, "at": None, "by": None})
        return answer({"plans": out})

    def _type(self, request: web.Request) -> str:
        kind = request.match_info["type"]
        if not TYPE.match(kind):
            raise BadBody("type", "1 to 64 of a-z 0-9 _")
        return kind

    async def set_plan(self, request: web.Request) -> web.Response:
        found = await self._admin(request, "steps")
        if isinstance(found, web.Response):
            return found
        admin, body = found
        try:
            kind = self._type(request)
            plan = Plan.model_validate(body)
        except BadBody as exc:
            return self._bad(exc)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "steps"
            return self._bad(BadBody(where, first["msg"]))
        await self.db(self.store.set_plan, kind, plan.model_dump_json(), admin.name,
                      [s.id for s in plan.steps])
        return answer({"ok": True})

    async def reset_plan(self, request: web.Request) -> web.Response:
        found = await self._admin(request)
        if isinstance(found, web.Response):
            return found
        admin, _ = found
        try:
            kind = self._type(request)
        except BadBody as exc:
            return self._bad(exc)
        if not await self.db(self.store.reset_plan, kind, admin.name):
            return answer({"error": f"type: no plan of the console's for {kind}"}, 404)
        return answer({"ok": True})
