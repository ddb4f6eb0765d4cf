"""read_ahead: order kept, at most one item ahead, errors raised in the caller."""

from __future__ import annotations

import threading

import pytest

from ingestion.readahead import read_ahead


def test_it_keeps_order_and_reads_at_most_one_item_ahead():
    pulled = []

    def source():
        for n in range(50):
            pulled.append(n)
            yield n

    seen = []
    for index, (item, doubled) in enumerate(read_ahead(source(), lambda n: n * 2)):
        assert (item, doubled) == (index, index * 2)
        assert len(pulled) <= index + 2  # this item and, at most, the next one
        seen.append(item)
    assert seen == list(range(50))


def test_the_transform_runs_off_the_callers_thread():
    caller = threading.get_ident()
    threads = {ident for _, ident in read_ahead(range(3), lambda _: threading.get_ident())}
    assert caller not in threads


def test_errors_reach_the_caller_after_the_items_before_them():
    def source():
        yield 1
        yield 2
        raise RuntimeError("page 3 failed")

    got = []
    with pytest.raises(RuntimeError, match="page 3 failed"):
        for item, _ in read_ahead(source(), str):
            got.append(item)
    assert got == [1, 2]

    with pytest.raises(ValueError, match="bad"):
        list(read_ahead([1, 2], lambda n: (_ for _ in ()).throw(ValueError("bad"))))
