"""Read ahead: fetch and parse the next page in a worker thread while this one is stored.

Storing a page mostly waits on PostgreSQL (and fetching one waits on Lake), with the GIL
released; parsing is Python work. Doing the next page's fetch + parse in one worker thread
while the caller writes the current page overlaps the two, so a poll runs at about the
speed of the slower stage instead of their sum. Database access stays in the caller's
thread (its connection, its transactions); at most two pages are in memory at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

_END = object()


def read_ahead[T, U](items: Iterable[T], transform: Callable[[T], U]) -> Iterator[tuple[T, U]]:
    """(item, transform(item)) for each item, the next one computed while this is used.

    Exceptions from the iterator or the transform are raised in the caller, in order.
    """
    iterator = iter(items)

    def next_result():
        item = next(iterator, _END)
        return _END if item is _END else (item, transform(item))

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-read-ahead") as pool:
        future = pool.submit(next_result)
        while True:
            result = future.result()
            if result is _END:
                return
            future = pool.submit(next_result)
            yield result
