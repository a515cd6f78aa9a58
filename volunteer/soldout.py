"""Which limited rewards are sold out, remembered for a few seconds: the flash sale's crowd is refused cheaply.

When a popular reward sells out, thousands of presses follow within seconds; each would otherwise lock the
volunteer's row and try the reward's row only to be refused. This adapter lets them be refused without touching
the database, under three rules that keep it from ever overselling or refusing for long:

* it only ever says "sold out", never "in stock": "don't know" (and any failure of the store) sends the request
  to the database, whose conditional stock UPDATE alone decides who gets an item;
* it says "sold out" only after the database did (a conditional stock UPDATE that found a committed 0, or a
  committed decrement to 0), and only for ``SOLD_OUT_CACHE_SECONDS``;
* whatever can raise the stock (restock, cancellation, expiry, an admin's edit or status change) calls
  ``forget_after_commit``: once that transaction commits, the reward's *generation* goes up. A "sold out" is
  stored with the generation read *before* the database was asked, so one observed before the restock's commit
  is worthless after it, even when a slow request writes it into the store later.

The store is Redis when ``RATELIMIT_STORAGE_URI`` is a redis URL (shared by every gunicorn worker), else a
dictionary per process (another worker may then keep refusing for up to the TTL after a restock it did not see).
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

#: how long the store is left alone after a Redis error (the database answers meanwhile)
REDIS_BACKOFF_SECONDS = 5.0
_PENDING = "sold_out_forget"


@dataclass(frozen=True)
class Look:
    """What the store said about one reward, and the generation to remember a "sold out" under."""

    sold_out: bool
    generation: int | None  # None: the store is unavailable; nothing will be remembered


class MemoryStore:
    """One process's store (tests, development, a single worker)."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.lock = threading.Lock()
        self.generations: dict[int, int] = {}
        self.entries: dict[int, tuple[int, float]] = {}  # reward id -> (generation, expiry on time.monotonic)

    def look(self, reward_id: int) -> Look:
        with self.lock:
            generation = self.generations.get(reward_id, 0)
            entry = self.entries.get(reward_id)
        return Look(entry is not None and entry[0] == generation and entry[1] > time.monotonic(), generation)

    def remember(self, reward_id: int, generation: int) -> None:
        with self.lock:
            self.entries[reward_id] = (generation, time.monotonic() + self.ttl)

    def forget(self, reward_id: int) -> None:
        with self.lock:
            self.generations[reward_id] = self.generations.get(reward_id, 0) + 1
            self.entries.pop(reward_id, None)


class RedisStore:
    """Shared by every worker: ``<prefix><id>`` holds the generation it was sold out in (with a TTL) and
    ``<prefix><id>:gen`` the current generation. One MGET per look."""

    def __init__(self, url: str, ttl: float, prefix: str) -> None:
        import redis

        self.errors = redis.RedisError
        self.client = redis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25)
        self.ttl, self.prefix = ttl, prefix
        self.down_until = 0.0

    def _available(self) -> bool:
        return time.monotonic() >= self.down_until

    def _failed(self) -> None:
        self.down_until = time.monotonic() + REDIS_BACKOFF_SECONDS
        current_app.logger.warning("sold-out cache: Redis unavailable; asking the database for %.0f s",
                                   REDIS_BACKOFF_SECONDS)

    def look(self, reward_id: int) -> Look:
        if not self._available():
            return Look(False, None)
        key = f"{self.prefix}{reward_id}"
        try:
            entry, generation = self.client.mget(key, key + ":gen")
        except self.errors:
            self._failed()
            return Look(False, None)
        current = int(generation or 0)
        return Look(entry is not None and int(entry) == current, current)

    def remember(self, reward_id: int, generation: int) -> None:
        if not self._available():
            return
        try:
            self.client.set(f"{self.prefix}{reward_id}", generation, px=int(self.ttl * 1000))
        except self.errors:
            self._failed()

    def forget(self, reward_id: int) -> None:
        try:  # even while backing off: a missed increment could let an old "sold out" count again
            self.client.incr(f"{self.prefix}{reward_id}:gen")
        except self.errors:
            self._failed()


def _store() -> MemoryStore | RedisStore:
    app = current_app._get_current_object()
    store = app.extensions.get("sold_out")
    if store is None:
        ttl = float(app.config["SOLD_OUT_CACHE_SECONDS"])
        url = str(app.config.get("RATELIMIT_STORAGE_URI") or "")
        if url.startswith(("redis://", "rediss://", "unix://")):
            # one namespace per database: two sites (or two test runs) sharing a Redis never see each other's ids
            database = hashlib.sha256(str(app.config["SQLALCHEMY_DATABASE_URI"]).encode()).hexdigest()[:12]
            store = RedisStore(url, ttl, f"{app.config['SOLD_OUT_CACHE_PREFIX']}{database}:")
        else:
            store = MemoryStore(ttl)
        store = app.extensions.setdefault("sold_out", store)
    return store


def look(reward_id: int) -> Look:
    """Whether the reward is known to be sold out (never whether it is in stock)."""
    return _store().look(reward_id)


def remember(reward_id: int, seen: Look) -> None:
    """Call only after the database said the stock is 0 (committed); ``seen`` is the look taken before asking."""
    if seen.generation is not None:
        _store().remember(reward_id, seen.generation)


def forget(reward_id: int) -> None:
    """The stock may have grown (call after the commit): any "sold out" remembered so far no longer counts."""
    _store().forget(reward_id)


def forget_after_commit(session: Session, reward_id: int) -> None:
    """For helpers that raise a reward's stock: ``forget`` it once the current transaction commits."""
    session.info.setdefault(_PENDING, set()).add(reward_id)


@event.listens_for(Session, "after_commit")
def _forget_committed(session: Session) -> None:
    # After a rollback the ids stay until the session's next commit: forgetting too much is always safe.
    pending = session.info.pop(_PENDING, None)
    if pending and has_app_context():
        for reward_id in pending:
            forget(reward_id)
