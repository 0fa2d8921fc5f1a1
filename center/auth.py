"""The login's defences: who the client is, whether a request comes from this site, and
how many failed logins a name or a client gets before it waits.

The throttle counts failed logins per user name and per client address in a sliding
window; past the limit the name (or the client) is locked for a while, and every login
for it is answered 429 without checking the password, so a locked name reveals nothing.
An attempt counts against both from the moment it starts, so a thousand parallel guesses
from one client get no further than the limit. A successful login clears the name's
failures (not the client's: a guesser with one account of its own must not reset them).

It lives in memory, per instance: several center instances behind one address each keep
their own counts (a guesser spread over N instances gets N times the tries), and a restart
forgets them. Its tables are bounded (the oldest entry goes first), so unlimited names
cannot grow them.
"""

from __future__ import annotations

import ipaddress
import itertools
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeGuard

from yarl import URL

KINDS = ("name", "client")
MAX_NAME, MAX_PASSWORD = 64, 1024  # characters
MIN_PASSWORD = 8


def valid_name(name: object) -> TypeGuard[str]:
    """A user name: 1 to 64 printable characters (no control or format characters, no
    line breaks), no blank at either end."""
    return (isinstance(name, str) and 0 < len(name) <= MAX_NAME and name.isprintable()
            and name == name.strip())


def password_problem(password: object) -> str | None:
    """What is wrong with a new password (the CLI's and the console's one policy), or None.
    The text never holds the password."""
    if not isinstance(password, str):
        return "a password is text"
    if len(password) < MIN_PASSWORD:
        return f"a password needs at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:  # the login takes no longer one
        return f"a password has at most {MAX_PASSWORD} characters"
    return None


@dataclass(slots=True)
class _Entry:
    failures: deque[float] = field(default_factory=deque)  # when, oldest first
    pending: int = 0  # attempts under way
    locked_until: float = 0.0


@dataclass(frozen=True, slots=True)
class Attempt:
    client: str
    name: str


class LoginThrottle:
    """Failed logins per name and per client; lockouts that expire. Not thread-safe: it is
    used from the event loop only."""

    def __init__(self, *, max_per_name: int = 5, max_per_client: int = 20,
                 window_s: float = 900.0, lockout_s: float = 900.0,
                 max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.max_per_name, self.max_per_client = max_per_name, max_per_client
        self.window_s, self.lockout_s, self.max_entries = window_s, lockout_s, max_entries
        self.clock = clock
        self.names: OrderedDict[str, _Entry] = OrderedDict()
        self.clients: OrderedDict[str, _Entry] = OrderedDict()
        self.lockouts: Counter[str] = Counter()  # lockouts begun, by kind (name, client)

    def _tables(self, attempt: Attempt) -> Iterable[tuple[str, OrderedDict[str, _Entry],
                                                          str, int]]:
        yield "client", self.clients, attempt.client, self.max_per_client
        yield "name", self.names, attempt.name, self.max_per_name

    def _wait(self, entry: _Entry, limit: int, now: float) -> float:
        """Seconds this entry is locked for (0: not locked); forgets what has expired."""
        if entry.locked_until:
            if entry.locked_until > now:
                return entry.locked_until - now
            entry.locked_until = 0.0
            entry.failures.clear()
        while entry.failures and entry.failures[0] <= now - self.window_s:
            entry.failures.popleft()
        if len(entry.failures) + entry.pending >= limit:  # the rest of the limit is under way
            return 1.0
        return 0.0

    def begin(self, client: str, name: str) -> Attempt | float:
        """An attempt to go on with, or the seconds to wait before the next."""
        now = self.clock()
        attempt = Attempt(client, name)
        wait = 0.0
        for _, table, key, limit in self._tables(attempt):
            entry = table.get(key)
            if entry is not None:
                wait = max(wait, self._wait(entry, limit, now))
        for _, table, key, _ in self._tables(attempt):
            if key in table:
                table.move_to_end(key)  # a locked name that is tried stays in the table
        if wait:
            return wait
        for _, table, key, _ in self._tables(attempt):
            entry = table.get(key)
            if entry is None:
                entry = table[key] = _Entry()
                self._evict(table, now, keep=key)
            entry.pending += 1
        return attempt

    def _evict(self, table: OrderedDict[str, _Entry], now: float, keep: str) -> None:
        """Keeps the table to ``max_entries``: the least recently tried goes, a locked one
        only if the oldest few are all locked."""
        while len(table) > self.max_entries:
            for key, entry in itertools.islice(table.items(), 16):
                if entry.locked_until <= now and key != keep:
                    del table[key]
                    break
            else:
                table.popitem(last=False)

    def failed(self, attempt: Attempt) -> list[str]:
        """Counts a failure; the kinds ("name", "client") it has just locked."""
        now = self.clock()
        locked = []
        for kind, table, key, limit in self._tables(attempt):
            entry = table.get(key)
            if entry is None:  # pushed out of a full table meanwhile
                continue
            entry.pending = max(0, entry.pending - 1)
            if entry.locked_until > now:
                continue
            self._wait(entry, limit, now)  # forgets what has expired, an old lockout too
            entry.failures.append(now)
            if len(entry.failures) >= limit:
                entry.locked_until = now + self.lockout_s
                entry.failures.clear()
                self.lockouts[kind] += 1
                locked.append(kind)
        return locked

    def succeeded(self, attempt: Attempt) -> None:
        """Clears the name's failures (others' attempts under way still count)."""
        self.abandoned(attempt)
        entry = self.names.get(attempt.name)
        if entry is not None:
            entry.failures.clear()
            if not entry.pending:
                del self.names[attempt.name]

    def abandoned(self, attempt: Attempt) -> None:
        """An attempt that ended without an answer on the password (the store failed)."""
        for _, table, key, _ in self._tables(attempt):
            entry = table.get(key)
            if entry is not None:
                entry.pending = max(0, entry.pending - 1)

    def locked(self) -> int:
        """Names and clients locked now."""
        now = self.clock()
        return sum(e.locked_until > now for t in (self.names, self.clients)
                   for e in t.values())


def client_address(remote: str | None, forwarded_for: str | None,
                   trusted: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> str:
    """The client's address: the peer's, or, when the peer is a trusted proxy, the nearest
    address in ``X-Forwarded-For`` that is not a trusted proxy (the entries to its left
    are the client's own say, and could be forged)."""
    trusted = tuple(trusted)

    def is_trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in net for net in trusted)

    address = remote or "unknown"
    if not trusted or not forwarded_for or not is_trusted(address):
        return address
    for hop in reversed(forwarded_for.split(",")):
        hop = hop.strip()
        if not hop:
            continue
        address = hop[:64]
        if not is_trusted(hop):
            break
    return address


def same_origin(origin: str, scheme: str, host: str) -> bool:
    """Whether a browser's ``Origin`` is this site: same scheme, host and port (a default
    port written out or left off is the same)."""
    try:
        theirs = URL(origin)
        ours = URL.build(scheme=scheme, authority=host)
    except (ValueError, TypeError):
        return False
    if not theirs.absolute or theirs.scheme not in ("http", "https"):
        return False
    return ((theirs.scheme, (theirs.host or "").lower(), theirs.port) ==
            (ours.scheme, (ours.host or "").lower(), ours.port)
            and theirs.path in ("", "/") and not theirs.query_string and not theirs.user)
