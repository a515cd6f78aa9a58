"""Run one function in many threads at the same moment, each with its own app context and DB session."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from volunteer.extensions import db


def race(app, work: Callable[[int], Any], count: int) -> list[Any]:
    """Call work(i) for i in range(count) from `count` threads released together; exceptions are returned."""
    db.session.commit()  # the test's own transaction must not hold SQLite's write lock
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
    db.session.expire_all()
    return results
