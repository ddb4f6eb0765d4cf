"""Text PostgreSQL can store: no NUL, no lone UTF-16 surrogate.

A NUL reaches us in a typed reason or a CloudTrail record; a lone surrogate in JSON (an
unpaired ``"\\ud800"`` escape, which json.loads keeps and UTF-8 cannot encode). Both make
PostgreSQL refuse the whole write, so what stores text a person or AWS wrote passes it
through ``storable`` first.
"""

from __future__ import annotations

import re

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """``text`` with NULs removed and lone surrogates replaced by U+FFFD."""
    return UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", text)
