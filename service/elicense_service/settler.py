"""A worker's scan settlements, committed while its event loop serves other requests.

A scan's one write (``AccessLog.settle``) waits for the database to run it and to flush
its commit. On PostgreSQL a worker that blocks in that wait leaves its core to whatever
else is runnable, and with two workers, the database and the load on two cores, that was
often nothing: the machine idled 11–18 % of the time at saturation. So the worker sends
the settlement (``AccessLog.settle_soon``), goes on with the next request's checks, and
picks the commit's answer up when its connection's socket is readable.

One settlement is on its way per worker at a time, on the thread's call connection, and
the next ones queue behind it in arrival order: the settles all lock the log's single
head row, so sending more at once would only make them wait in the server (an earlier
design that sent each on a connection of its own lost a third of its throughput to
that). Nothing is returned to a client before its record is committed: the request
awaits its own settlement's result, which is the committed record or the failure.

Where the storage cannot send ahead (SQLite: a local transaction has no wait to
overlap), ``settle`` commits at once, as ``Platform.verify_scan`` does.
"""

from __future__ import annotations

import asyncio

from elicense.ports import AccessLog, SettleInFlight
from elicense.records import AccessRecord, Settlement

MAX_BATCH = 32
"""Settlements sent together at most. It bounds how long one transaction holds the log's
head, and what its answers take of the sockets' buffers: the server writes each
statement's answer (about 250 bytes) before it commits, so a worker that blocks on
something else meanwhile must not leave it more than the buffers hold, or the commit,
and every scan waiting on the head, would wait for that worker."""


class Settler:
    """The settlements of one event loop (a worker's): one batch in flight at a time,
    the settlements that arrive meanwhile sent together after it."""

    def __init__(self, log: AccessLog, loop: asyncio.AbstractEventLoop) -> None:
        self._log = log
        self._loop = loop
        self._queue: list[tuple[Settlement, int, asyncio.Future[AccessRecord]]] = []
        self._current: tuple[SettleInFlight, int, list[asyncio.Future[AccessRecord]]] | None = None

    async def settle(self, settlement: Settlement, now: int) -> AccessRecord:
        """The settlement committed: its stored record, or the failure ``settle`` would
        raise (the caller fails closed on it)."""
        future: asyncio.Future[AccessRecord] = self._loop.create_future()
        if self._current is None:
            sent = self._log.settle_soon([(settlement, now)])
            if sent is None:
                return self._log.settle(settlement, now)
            self._watch(sent, [future])
        else:
            self._queue.append((settlement, now, future))
        return await future

    def _watch(self, sent: SettleInFlight, futures: list[asyncio.Future[AccessRecord]]) -> None:
        fd = sent.fileno()
        self._current = (sent, fd, futures)
        self._loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        current = self._current
        if current is None:  # pragma: no cover - the reader goes with the settlement
            return
        sent, fd, futures = current
        outcomes: list[AccessRecord] | BaseException
        try:
            if not sent.ready():
                return  # part of the answer: wait for the rest
            outcomes = sent.result()
        except Exception as exc:  # the callers fail closed on it
            outcomes = exc
        self._loop.remove_reader(fd)
        self._current = None
        for i, future in enumerate(futures):
            _resolve(future, outcomes if isinstance(outcomes, BaseException) else outcomes[i])
        self._send_next()

    def _send_next(self) -> None:
        queued = [q for q in self._queue if not q[2].done()]  # done: its request is gone
        queued, self._queue = queued[:MAX_BATCH], queued[MAX_BATCH:]
        if not queued:
            return
        futures = [f for _, _, f in queued]
        try:
            sent = self._log.settle_soon([(s, now) for s, now, _ in queued])
        except Exception as exc:
            for future in futures:
                _resolve(future, exc)
            return
        if sent is None:  # pragma: no cover - a storage sends ahead always or never
            for s, now, future in queued:
                _resolve(future, self._log.settle(s, now))
            return
        self._watch(sent, futures)


def _resolve(future: asyncio.Future[AccessRecord], outcome: AccessRecord | BaseException) -> None:
    """Hand the outcome to the waiting request, unless it is gone (the settlement may have
    committed all the same: its record is in the log, and nothing was returned)."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
