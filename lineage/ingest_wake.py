"""Waking the lineage worker after events are accepted: at most one task per WAKE_SECONDS from
each web process, instead of one per event.

A task drains every pending event (lineage.ingest.lineage_events_drain), so one message per
burst is enough; a message per event cost a Redis round trip plus kombu's serialisation on
every accept, about as much as the rest of the accept path. The event is already committed
when the worker is woken, so coalescing never loses one:

- leading edge: the first event after a quiet WAKE_SECONDS sends a task at once, on the
  request (a broker failure reaches the request's X-Charter-Queue header as before);
- trailing edge: an event accepted within WAKE_SECONDS of a send arms one timer that sends
  again at the end of that window, i.e. after the event committed, so a task always starts
  after every accepted event (a drain that ran just before it cannot have missed it for good);
- after a failed send nothing is coalesced: every event tries (and reports) again until a
  send succeeds. What a lost message leaves pending the beat sweeper applies (ingest.py).

With an eager queue (tests) or WAKE_SECONDS <= 0, every event sends its own task after
commit, exactly as before.
"""

import logging
import os
import threading
import time
from typing import Any

from django.conf import settings
from django.db import transaction
from kombu.exceptions import OperationalError as KombuOperationalError

from config.celery import enqueue_on_commit

logger = logging.getLogger(__name__)

WAKE_SECONDS = float(os.environ.get("CHARTER_LINEAGE_WAKE_SECONDS", "0.2"))
SEND_ERRORS = (KombuOperationalError, ConnectionError, OSError)


def _task() -> Any:  # noqa: ANN401 - a Celery task
    from lineage.tasks import lineage_ingest_task  # tasks import ingest: import when sending

    return lineage_ingest_task


class Waker:
    """One per process: remembers when it last sent and whether a trailing send is armed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.sent_at = float("-inf")
        self.timer: threading.Timer | None = None
        self.healthy = True

    def wake(self) -> None:
        """Called after an event committed (outside any transaction)."""
        with self.lock:
            now = time.monotonic()
            lead = not self.healthy or (self.timer is None and now - self.sent_at >= self.seconds)
            if lead:
                self.sent_at = now
            elif self.timer is None:
                self.timer = threading.Timer(self.sent_at + self.seconds - now, self._trailing)
                self.timer.daemon = True
                self.timer.start()
        if lead:
            # through the project's helper, so a failure is logged and reported to the request
            enqueue_on_commit(_ReportingSend(self))

    def _trailing(self) -> None:
        with self.lock:
            self.timer = None
            self.sent_at = time.monotonic()
        try:
            _task().delay()
            self.healthy = True
        except SEND_ERRORS as exc:  # stored events wait for the next send or the sweeper
            self.healthy = False
            logger.warning("queue unavailable: lineage wake-up not sent (%s)", exc)


class _ReportingSend:
    """Looks like the task to enqueue_on_commit; notes whether the send worked."""

    def __init__(self, waker: Waker) -> None:
        self.waker = waker
        self.name = _task().name

    def delay(self, **kwargs: Any) -> None:  # noqa: ANN401
        try:
            _task().delay(**kwargs)
        except SEND_ERRORS:
            self.waker.healthy = False
            raise
        self.waker.healthy = True


_waker = Waker(WAKE_SECONDS)


def worker_wake(event_id: int) -> None:
    """Make sure a worker applies the event `event_id` (stored in the current transaction, or
    already committed): the task is sent after commit, coalesced with other events' sends."""
    if _waker.seconds <= 0 or getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        enqueue_on_commit(_task(), event_id=event_id)
    else:
        transaction.on_commit(_waker.wake)
