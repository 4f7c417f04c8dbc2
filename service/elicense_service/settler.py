"""A worker's scan settlements, committed in groups while its event loop serves other
requests.

A scan's one write (``AccessLog.settle``) waits for the database to run it and to flush
its commit. On PostgreSQL a worker that blocks in that wait leaves its core to whatever
else is runnable, and with two workers, the database and the load on two cores, that was
often nothing: the machine idled 17–23 % of the time at saturation. So the worker sends
the settlement (``AccessLog.settle_soon``), goes on with the next request's checks, and
picks the commit's answer up when its connection's socket is readable.

One batch is on its way per worker at a time, on the thread's call connection; the
settlements that arrive meanwhile queue in arrival order and go out together when it is
answered, at most ``MAX_BATCH`` in one transaction with one flush of the server's log (a
group commit). The settlements all lock the log's single head row, so sending them on
connections of their own would only make them wait in the server (an earlier design
that did lost a third of its throughput to that), and each would flush the log alone.
Nothing is returned to a client before its record is committed: the request awaits its
own settlement's result, which is the committed record or the failure.

Where the storage cannot send ahead (SQLite: a local transaction has no wait to
overlap), ``settle`` commits at once, as ``Platform.verify_scan`` does. The replay
table's occasional purge (every 1,000 settlements per worker) still runs on the loop,
before a batch is sent: a short blocking delete of expired rows.
"""

from __future__ import annotations

import asyncio
from collections import deque

from elicense.ports import AccessLog, SettleInFlight
from elicense.records import AccessRecord, Settlement

MAX_BATCH = 32
"""Settlements sent together at most. It bounds how long one transaction holds the log's
head, and what its answers take of the sockets' buffers: the server writes each
statement's answer (about 250 bytes) before it commits, so a worker that blocks on
something else meanwhile must not leave it more than the buffers hold, or the commit,
and every scan waiting on the head, would wait for that worker."""


class Settler:
    """The settlements of one event loop (a worker's; it keeps no reference to the loop,
    so that ``Runtime``'s settler per loop goes with its loop): one batch in flight at a time,
    the settlements that arrive meanwhile sent together after it, in arrival order.
    Nothing waits in the queue while nothing is in flight."""

    def __init__(self, log: AccessLog) -> None:
        self._log = log
        self._queue: deque[tuple[Settlement, int, asyncio.Future[AccessRecord]]] = deque()
        self._current: tuple[SettleInFlight, int, list[asyncio.Future[AccessRecord]]] | None = None

    async def settle(self, settlement: Settlement, now: int) -> AccessRecord:
        """The settlement committed: its stored record, or the failure ``settle`` would
        raise (the caller fails closed on it)."""
        future: asyncio.Future[AccessRecord] = asyncio.get_running_loop().create_future()
        self._queue.append((settlement, now, future))
        if self._current is None:
            self._send_next()
        return await future

    def _send_next(self) -> None:
        """Send what is queued, MAX_BATCH at a time, until a batch is on its way or the
        queue is empty. A batch that cannot be sent fails its own requests only."""
        while self._current is None and self._queue:
            batch: list[tuple[Settlement, int, asyncio.Future[AccessRecord]]] = []
            while self._queue and len(batch) < MAX_BATCH:
                queued = self._queue.popleft()
                if not queued[2].done():  # done: its request is gone, nothing to spend
                    batch.append(queued)
            if not batch:
                continue
            futures = [f for _, _, f in batch]
            try:
                sent = self._log.settle_soon([(s, now) for s, now, _ in batch])
                if sent is None:  # the storage cannot send ahead: settle each now
                    for s, now, future in batch:
                        _resolve(future, _settled_now(self._log, s, now))
                    continue
                fd = sent.fileno()
                asyncio.get_running_loop().add_reader(fd, self._readable)
            except Exception as exc:  # the callers fail closed on it
                for future in futures:
                    _resolve(future, exc)
                continue
            self._current = (sent, fd, futures)

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
            if len(outcomes) != len(futures):
                raise RuntimeError("a batch's answers do not match its settlements")
        except Exception as exc:  # the callers fail closed on it
            outcomes = exc
        asyncio.get_running_loop().remove_reader(fd)
        self._current = None
        for i, future in enumerate(futures):
            _resolve(future, outcomes if isinstance(outcomes, BaseException) else outcomes[i])
        self._send_next()


def _settled_now(log: AccessLog, settlement: Settlement, now: int) -> AccessRecord | Exception:
    try:
        return log.settle(settlement, now)
    except Exception as exc:  # the caller fails closed on it
        return exc


def _resolve(future: asyncio.Future[AccessRecord], outcome: AccessRecord | BaseException) -> None:
    """Hand the outcome to the waiting request, unless it is gone (the settlement may have
    committed all the same: its record is in the log, and nothing was returned)."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
