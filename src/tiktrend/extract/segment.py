"""Offline, dictionary-based segmentation of glued hashtags: ``nightroutine`` → ``night routine``.

The cost of a split is the sum of its pieces' costs (Viterbi over the tag): an English word costs its
negative log10 frequency in the Google web corpus counts bundled with the ``wordsegment`` package (the
60,000 most frequent words); a Vietnamese syllable, written with or without diacritics, costs
``VIETNAMESE_COST`` (about the frequency of an everyday English word: ``dulichdalat`` → ``du lich da lat``);
an unknown piece costs more the longer it is, so names stay whole rather than shatter into letters.

Vietnamese syllables are not listed but generated, as onset + rhyme (its written forms without tone marks),
which is the language's phonotactics: every written syllable is one of these. Tags with diacritics are
segmented on their accent-folded letters and the pieces cut from the original spelling.
"""

from __future__ import annotations

import math
import unicodedata
from functools import lru_cache
from importlib import resources

from tiktrend.extract.generic import read_word_list

VIETNAMESE_COST = 3.5
# Platform words (tiktok, ootd, grwm) are as common on TikTok as everyday words elsewhere.
_PLATFORM_COST = 4.0
ENGLISH_WORDS = 60_000
# Glued tags longer than this are sentences; segmenting them costs O(n * longest word) for little use.
MAX_TAG_CHARS = 40
_LONGEST_WORD = 18
# Every extra piece must pay for itself: a split needs evidence beyond two rare words (mewing ≠ me wing).
_PIECE_COST = 2.0


def _listed(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_ONSETS = (*_listed("b c ch d g gh gi h k kh l m n ng ngh nh p ph qu r s t th tr v x"), "")
_RHYMES = _listed(
    "a ac ach ai am an ang anh ao ap at au ay e ec em en eng eo ep et eu i ia ich iec iem ien iep iet ieu im in "
    "inh ip it iu o oa oac oach oai oam oan oang oanh oao oap oat oay oc oe oen oeo oet oi om on ong ooc oong op ot "
    "u ua uan uang uanh uat uay uc ue uen uenh uet ui um un ung uo uoc uoi uom uon uong uop uot uou up ut uu uy "
    "uya uych uyen uyet uynh uyt y yen yet yeu"
)


def fold_accents(text: str) -> str:
    """Latin diacritics removed letter by letter (``đ`` → ``d``), so the result keeps the text's length."""
    if text.isascii():
        return text
    out = []
    for ch in text:
        base = unicodedata.normalize("NFD", ch)[0] if ch not in "đĐ" else ("d" if ch == "đ" else "D")
        out.append(base if len(base) == 1 else ch)
    return "".join(out)


@lru_cache(maxsize=1)
def _costs() -> dict[str, float]:
    """Cost of each known piece: English words by corpus frequency, Vietnamese syllables flat."""
    text = resources.files("wordsegment").joinpath("unigrams.txt").read_text(encoding="utf-8")
    counts: dict[str, float] = {}
    for line in text.splitlines()[:ENGLISH_WORDS]:
        word, _, count = line.partition("\t")
        counts[word] = float(count)
    total = sum(counts.values())
    # Single letters other than "a" and "i" are initials in the corpus, never a piece of a tag.
    costs = {word: -math.log10(count / total) for word, count in counts.items() if len(word) > 1 or word in "ai"}
    for word in read_word_list("segment_words.txt"):
        costs[word] = min(costs.get(word, _PLATFORM_COST), _PLATFORM_COST)
    for onset in _ONSETS:
        for rhyme in _RHYMES:
            syllable = onset + rhyme
            # gi + i is written gi; a syllable is never only an onset.
            if syllable and syllable not in _ONSETS:
                costs[syllable] = min(costs.get(syllable, VIETNAMESE_COST), VIETNAMESE_COST)
    return costs


def _unknown_cost(piece: str) -> float:
    # As in wordsegment: an unknown word is ever less likely the longer it is, so names stay whole.
    return 10.0 + len(piece)


@lru_cache(maxsize=1 << 15)
def segment(tag: str) -> tuple[str, ...]:
    """The words of a glued hashtag, lower-cased (``#NightRoutine`` → ``("night", "routine")``)."""
    text = tag.lower().lstrip("#")
    if not text.isalnum() or len(text) > MAX_TAG_CHARS:
        return (text,) if text else ()
    folded = fold_accents(text)
    costs = _costs()
    # best[i]: (cost, start of the last piece) of the cheapest split of folded[:i].
    best: list[tuple[float, int]] = [(0.0, 0)]
    for end in range(1, len(folded) + 1):
        options = []
        for start in range(max(0, end - _LONGEST_WORD), end):
            piece = folded[start:end]
            cost = costs.get(piece)
            if cost is None:
                # Digits glue to their neighbour as one unknown piece (ps5, 2025); runs of them are free.
                cost = 0.5 if piece.isdigit() else _unknown_cost(piece)
            options.append((best[start][0] + cost + _PIECE_COST, start))
        best.append(min(options))
    pieces: list[str] = []
    end = len(folded)
    while end > 0:
        start = best[end][1]
        pieces.append(text[start:end])
        end = start
    return tuple(reversed(pieces))
