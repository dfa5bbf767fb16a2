"""Vietnamese caption words: pyvi's word segmenter and part-of-speech tagger (CRF models inside its wheel).

Vietnamese is written in syllables separated by spaces, so a word (``học sinh``, ``mạng xã hội``) is found only
by a segmenter, and which words are worth a keyword by their part of speech: in the evaluation set, keeping the
nouns of a Vietnamese caption raised its precision from 0.72 to 0.80 (``docs/extraction.md``), where verbs and
adjectives were mostly the caption's chatter ("hiểu", "đẹp", "khó").

pyvi is imported on the first Vietnamese caption only: it takes about 1.5 s and 85 MB.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

log = logging.getLogger(__name__)

# pyvi's noun tags: common, proper, unit, abbreviated and borrowed nouns.
NOUN_TAGS = frozenset({"N", "Np", "Nu", "Ny", "Nb"})


class Syllable(NamedTuple):
    """Where a syllable of the text belongs: its word's number in the text, the word's tag and size."""

    word: int
    noun: bool
    syllables: int


def tag_syllables(text: str) -> dict[int, Syllable] | None:
    """Each syllable's word, by the syllable's start offset in ``text``; None when the tagger failed.

    Syllables the segmenter changed (pyvi composes characters to NFC) are left out, so they count as
    syllables of no known word.
    """
    try:
        from pyvi import ViPosTagger, ViTokenizer

        tokens, tags = ViPosTagger.postagging(ViTokenizer.tokenize(text))
    except Exception as exc:  # a tagger failure falls back to the word list, never stops a run
        log.warning("Vietnamese tagger failed (%s: %s); the word list cuts this caption", type(exc).__name__, exc)
        return None
    found: dict[int, Syllable] = {}
    position = 0
    for number, (token, tag) in enumerate(zip(tokens, tags, strict=True)):
        parts = token.split("_")
        for part in parts:
            at = text.find(part, position)
            if at < 0:
                continue
            found[at] = Syllable(number, tag in NOUN_TAGS, len(parts))
            position = at + len(part)
    return found
