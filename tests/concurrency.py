"""Run one function in many threads at the same moment, each with its own app context and DB session.

Races belong on PostgreSQL (``tests.conftest.postgres_only``): there the threads' transactions really overlap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from volunteer.extensions import db


def race(app, work: Callable[[int], Any], count: int) -> list[Any]:
    """Call work(i) for i in range(count) from `count` threads released together; exceptions are returned."""
    db.session.commit()  # the test's own transaction must not hold a lock the threads need
    warm_pool(count)
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                results[index] = work(index)
            except Exception as exc:  # noqa: BLE001 - the test inspects what each thread got
                db.session.rollback()
                results[index] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    stuck = sum(thread.is_alive() for thread in threads)
    assert stuck == 0, f"{stuck} of {count} threads still running after 120 s"
    db.session.expire_all()
    return results


def warm_pool(count: int) -> None:
    """Open the connections the threads will take before they are released (as many as the pool keeps: mark a
    test ``app_config(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": n})`` for more). Otherwise the first thread uses
    the one idle connection and commits while the others are still connecting, and the race never happens."""
    pool = db.engine.pool
    held = [db.engine.connect() for _ in range(min(count, pool.size()))]
    for connection in held:
        connection.close()


def kinds(results: list[Any]) -> list[str]:
    """What each thread got, for an assertion message: the type name of a result or an exception."""
    return sorted(type(r).__name__ for r in results)
