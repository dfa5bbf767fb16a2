"""Emoji as their own signal (the ``emoji`` modality): 🍓, 🇻🇳 or 👩‍🍳 trend like words do.

A key is one emoji sequence without its skin tone and presentation selector (👍🏽 and 👍 are one key, ❤️ and
❤ too); zero-width-joiner sequences (👩‍🍳), keycaps (1️⃣) and flags (two regional indicators) stay whole.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Pictographs (U+1F000..1FAFF without the regional indicators and skin tones), the older dingbat and symbol
# blocks, and the handful of emoji elsewhere. Arrows, ©, ® and ™ are typography in captions, not emoji.
_BASE = (
    "\U0001f000-\U0001f1e5\U0001f200-\U0001f3fa\U0001f400-\U0001faff"
    "\u2600-\u27bf\u2b05-\u2b07\u2b1b\u2b1c\u2b50\u2b55\u231a\u231b\u2328\u23cf\u23e9-\u23fa\u3030\u303d\u3297\u3299"
)
_MODIFIERS = "\ufe0f\ufe0e\U0001f3fb-\U0001f3ff"
_PICTO = rf"[{_BASE}][{_MODIFIERS}]*"
_EMOJI = re.compile(
    rf"[\U0001f1e6-\U0001f1ff]{{2}}|[0-9#*]\ufe0f?\u20e3|{_PICTO}(?:\u200d{_PICTO})*",
)
_STRIP = re.compile(f"[{_MODIFIERS}]")
# One caption with a wall of emoji should not outweigh the rest: the first few distinct ones count.
MAX_EMOJI = 8


def has_emoji(text: str) -> bool:
    """Whether a text holds any emoji (cheap check before :func:`emoji_keys`)."""
    return _EMOJI.search(text) is not None


@lru_cache(maxsize=1 << 14)
def emoji_keys(text: str) -> tuple[str, ...]:
    """The distinct emoji of a text in order of appearance, as keys (no skin tone, no variation selector)."""
    if text.isascii():
        return ()
    keys = dict.fromkeys(_STRIP.sub("", found) for found in _EMOJI.findall(text))
    return tuple(key for key in keys if key)[:MAX_EMOJI]
