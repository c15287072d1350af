"""`PrestartedPool`: a ThreadPoolExecutor with every thread started up front and a cheap `submit`.

The daemons hand blocking work (helper programs, SQLite writes, file I/O) to thread pools from the
event loop's thread, hundreds of times a second while pods start. CPython's ThreadPoolExecutor
makes that hand-off costly in two ways this class removes:

- it starts a thread on a `submit` that finds none idle, in the submitting thread — the loop's —
  and making a thread (clone(2)) waits whenever runc is moving a process between cgroups on the
  node, which during a burst of pods stalled the loop for up to half a second at a time;
- on every `submit` it asks its idle-thread semaphore, and when every thread is busy (as in a
  burst, or always for a one-thread pool such as the SQLite worker's) that non-blocking ask still
  goes through a Condition.wait(0): a new lock and a release and re-take of the condition's lock,
  contended by the workers.

With all threads started at once there is never a thread to add, so `submit` skips both.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor


class PrestartedPool(ThreadPoolExecutor):
    def __init__(self, max_workers: int, thread_name_prefix: str = "") -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
        while len(self._threads) < max_workers:  # each call starts one: none is idle yet
            super()._adjust_thread_count()

    def _adjust_thread_count(self) -> None:
        """Called by `submit`: every thread exists already, there is nothing to adjust."""
