"""sgportal.events.announce: every receiver runs, a failing one is logged, never raised."""

from __future__ import annotations

import logging

from sgportal import events


def test_a_failing_receiver_is_logged_and_the_others_still_run(db, caplog):
    reached = []

    def broken(sender, **kwargs):
        raise ConnectionError("Error 111 connecting to redis:6379")

    def fine(sender, **kwargs):
        reached.append(kwargs)

    events.revert_finished.connect(broken, weak=False)
    events.revert_finished.connect(fine, weak=False)
    try:
        with caplog.at_level(logging.ERROR, logger="sgportal.events"):
            events.announce(events.revert_finished, None, change_id=7, outcome="reverted")
    finally:
        events.revert_finished.disconnect(broken)
        events.revert_finished.disconnect(fine)
    assert reached == [{"signal": events.revert_finished, "change_id": 7, "outcome": "reverted"}]
    [line] = [r.getMessage() for r in caplog.records if r.name == "sgportal.events"]
    assert line.startswith("revert_finished receiver")
    assert "change_id=7, outcome='reverted'" in line and "Error 111" in line
