"""Caption keyphrases: uni- to tri-grams, cut at stop words and punctuation, scored YAKE-style.

Candidates. A caption is cut into chunks at punctuation, emoji, line breaks and removed tags; inside a chunk,
stop words, numbers and laughter cut runs of content words (RAKE's idea: function words delimit phrases).
A run becomes keyphrases of at most ``MAX_WORDS`` words:

- a word sequence that a hashtag of the same video spells once glued (``night routine`` and
  ``#nightroutine``) is one phrase, so the caption and the tag give the same keyword;
- Vietnamese is written in syllables: syllables that form a word of ``data/words_vi.txt`` (``bánh mì``,
  ``đà lạt``, ``học bổng``) are one phrase, other content syllables stay single;
- capitalized runs are names (``Taylor Swift``, ``Estados Unidos``) when the caption's casing
  says anything (not when most words are capitalized), and two words joined by a strong collocation in
  the web corpus bundled with ``wordsegment`` (pointwise mutual information: ``ice cream``, ``new york``)
  stay together; other words are keywords on their own.

Score. YAKE (Campos et al., 2020) without a corpus: a term is more important when capitalized inside a
sentence, early, frequent in the text, and spread over few distinct contexts; a phrase's score combines its
terms' scores. YAKE's score is "lower is better" and unbounded, so the mention weight is ``1 / (1 + S)``
in (0, 1]: the first content word of a short caption weighs about 0.7, later and weaker ones less.

The key of a phrase is its words' keys glued (``night routine`` → ``nightroutine``): the key a hashtag of the
same words has, so ``#NightRoutine``, ``nightroutine`` and ``night routine`` are one keyword. The display
keeps the words apart.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import NamedTuple

from tiktrend.extract.generic import is_generic, read_word_list
from tiktrend.extract.text import TOKEN, normalize, word_key, word_keyword
from tiktrend.extract.vietnamese import Syllable, tag_syllables

MAX_WORDS = 3
MAX_PHRASES = 12
# Two words are one phrase above this PMI (log10), in a bigram seen at least this often: "new york" is 1.3,
# "best friend" 1.9, "ice cream" 3.4, "new song" 0.6.
MIN_PMI = 1.2
MIN_BIGRAM_COUNT = 200_000.0
_CORPUS_TOKENS = 1.0e12
_TOKEN = TOKEN


class Phrase(NamedTuple):
    """One keyphrase of a caption: glued key, spaced display, YAKE weight in (0, 1], and whether it asks for reach.

    ``generic``: the phrase is a reach tag, or a phrase with a reach word in it ("bắt trend", "viral video").
    """

    key: str
    display: str
    weight: float
    words: tuple[str, ...]
    generic: bool = False


@dataclass(slots=True)
class _Term:
    key: str
    display: str
    chunk: int
    upper: bool  # capitalized and not first in its chunk: YAKE's casing feature
    acronym: bool
    capital: bool  # capitalized anywhere: part of a name
    generic: bool  # a reach word (fyp, viral, trend)
    word: int = -1  # Vietnamese: the segmenter's word this syllable belongs to (-1: not segmented)


def _counts(name: str) -> Iterator[tuple[str, float]]:
    """``(entry, count)`` of one of wordsegment's web-corpus frequency files."""
    text = resources.files("wordsegment").joinpath(name).read_text(encoding="utf-8")
    for line in text.splitlines():
        entry, _, count = line.partition("\t")
        yield entry, float(count)


@lru_cache(maxsize=1)
def _collocations() -> frozenset[str]:
    """The English bigrams (``"ice cream"``) whose pointwise mutual information passes MIN_PMI."""
    # Computed once from the corpus's 333,000 words and 140,000 frequent bigrams, then only the ~15,000
    # collocations are kept: the counts would hold ~35 MB in every extracting process for a yes/no answer.
    bigrams = {pair: count for pair, count in _counts("bigrams.txt") if count >= MIN_BIGRAM_COUNT}
    wanted = {word for pair in bigrams for word in pair.split(" ")}
    unigrams = {word: count for word, count in _counts("unigrams.txt") if word in wanted}
    found = set()
    for pair, count in bigrams.items():
        first, second = pair.split(" ")
        # Pointwise mutual information, log10 P(ab) / (P(a) P(b)), over the corpus's ~1e12 tokens.
        if first not in unigrams or second not in unigrams:
            continue  # a word the unigram list lacks ("<s>" markers): never a phrase
        if math.log10(count * _CORPUS_TOKENS / (unigrams[first] * unigrams[second])) >= MIN_PMI:
            found.add(pair)
    return frozenset(found)


def is_collocation(first: str, second: str) -> bool:
    """Whether two lower-case English words form a fixed phrase (``ice cream``, ``new york``) in the web corpus."""
    return f"{first} {second}" in _collocations()


def _chunks(text: str, lang: str) -> tuple[list[list[_Term | None]], int, int]:
    """Chunks of a text (cut at anything but spaces between words), stop words as None; words, capitalised.

    Vietnamese text is tagged first (``vietnamese.py``): only syllables of nouns are terms, each with its word's
    number, and a stop syllable inside a noun of several syllables with a content syllable is kept (``người
    yêu``, ``con gái``: the stop list is of single syllables).
    """
    tagged = tag_syllables(text) if lang == "vi" else None
    content = _content_words(text, tagged) if tagged else set()
    chunks: list[list[_Term | None]] = []
    current: list[_Term | None] = []
    end = words = capitals = 0
    for match in _TOKEN.finditer(text):
        start, stop = match.span()
        # A chunk ends at punctuation, emoji or a line break between two words (str methods beat a regex here).
        if current and start > end:
            gap = text[end:start]
            if not gap.isspace() or "\n" in gap:
                chunks.append(current)
                current = []
        end = stop
        token = text[start:stop]
        capital = token[0].isupper()
        words += 1
        capitals += capital
        keyword = word_keyword(token, lang)
        word = -1
        if tagged is not None:
            syllable = tagged.get(start)
            if syllable is None or not syllable.noun:
                keyword = None
            elif keyword is None and syllable.word in content and token.isalpha():
                keyword = (word_key(token), token, False)
            word = syllable.word if syllable is not None else -1
        if keyword is None:
            current.append(None)
            continue
        acronym = capital and len(token) > 1 and token.isupper()
        current.append(
            _Term(keyword[0], keyword[1], len(chunks), capital and bool(current), acronym, capital, keyword[2], word)
        )
    if current:
        chunks.append(current)
    return chunks, words, capitals


def _content_words(text: str, tagged: dict[int, Syllable]) -> set[int]:
    """The segmenter's words of several syllables that have a syllable outside the stop list."""
    found = set()
    for match in _TOKEN.finditer(text):
        syllable = tagged.get(match.start())
        if syllable is not None and syllable.syllables > 1 and word_keyword(match.group(), "vi") is not None:
            found.add(syllable.word)
    return found


def _runs(chunks: list[list[_Term | None]]) -> list[list[_Term]]:
    runs: list[list[_Term]] = []
    for chunk in chunks:
        run: list[_Term] = []
        for term in [*chunk, None]:
            if term is None:
                if run:
                    runs.append(run)
                run = []
            else:
                run.append(term)
    return runs


@lru_cache(maxsize=1)
def _common_words() -> dict[str, frozenset[str]]:
    """``data/common_words.txt`` by language (made by ``scripts/build_common_words.py`` from wordfreq)."""
    by_language: dict[str, set[str]] = {}
    for entry in read_word_list("common_words.txt"):
        lang, _, word = entry.partition("\t")
        by_language.setdefault(lang, set()).add(word)
    return {lang: frozenset(words) for lang, words in by_language.items()}


def common_words(lang: str) -> frozenset[str]:
    """The words so frequent in ``lang`` (wordfreq Zipf >= 4.75) that alone they rarely name a video's topic.

    Empty for an undetermined language, and for those the list leaves out (Vietnamese, Japanese, Korean,
    Chinese, Thai).
    """
    return _common_words().get(lang, frozenset())


@lru_cache(maxsize=1)
def vietnamese_words() -> frozenset[tuple[str, ...]]:
    """The Vietnamese words of several syllables of ``data/words_vi.txt``, as tuples of syllable keys."""
    return frozenset(tuple(normalize(entry).lower().split()) for entry in read_word_list("words_vi.txt"))


def _cut(run: list[_Term], lang: str, known: frozenset[str], names: bool) -> list[list[_Term]]:
    """A run of content words cut into phrases of at most MAX_WORDS words.

    A window that spells a tag of the video glued is one phrase; so are the syllables of one word the
    Vietnamese segmenter found, or, when the tagger failed, of a word of ``words_vi.txt``.
    """
    segmented = run[0].word >= 0
    lexicon = vietnamese_words() if lang == "vi" and not segmented else frozenset()
    if not known and not lexicon and not segmented:
        return _merge([[term] for term in run], lang, names)  # nothing to look up: single words, then names
    pieces: list[list[_Term]] = []
    i = 0
    while i < len(run):
        for size in range(min(MAX_WORDS, len(run) - i), 1, -1):
            window = run[i : i + size]
            keys = tuple(term.key for term in window)
            if (known and "".join(keys) in known) or keys in lexicon:
                pieces.append(window)
                i += size
                break
        else:
            j = i + 1
            while segmented and j < len(run) and run[j].word == run[i].word:
                j += 1
            pieces.append(run[i:j])
            i = j
    merged = _merge(pieces, lang, names)
    return _pair_syllables(merged) if lang == "vi" and not segmented else merged


def _pair_syllables(pieces: list[list[_Term]]) -> list[list[_Term]]:
    """Unknown Vietnamese syllables next to each other, paired: most Vietnamese words have two syllables."""
    out: list[list[_Term]] = []
    for piece in pieces:
        if len(piece) == 1 and out and len(out[-1]) == 1:
            out[-1] = [*out[-1], piece[0]]
        else:
            out.append(piece)
    return out


def _merge(pieces: list[list[_Term]], lang: str, names: bool) -> list[list[_Term]]:
    """Single words joined with their neighbour when they form a name or an English collocation."""
    merged: list[list[_Term]] = []
    for piece in pieces:
        if merged and len(piece) == 1 and len(merged[-1]) < MAX_WORDS and _joins(merged[-1], piece[0], lang, names):
            merged[-1] = [*merged[-1], piece[0]]
        else:
            merged.append(piece)
    return merged


def _joins(before: list[_Term], term: _Term, lang: str, names: bool) -> bool:
    if names and term.capital and all(t.capital for t in before):
        # A name: capitalised words in a caption whose casing is informative (Taylor Swift, Hoà Minzy).
        return True
    # The collocations are English corpus counts (where "vous avez" is frequent too).
    return lang == "en" and len(before) == 1 and is_collocation(before[-1].key, term.key)


def _term_scores(chunks: list[list[_Term | None]], names: bool) -> dict[str, float]:
    """YAKE's per-term score S(t) over one text (lower is more important)."""
    occurrences: dict[str, list[_Term]] = {}
    left: dict[str, set[str]] = {}
    right: dict[str, set[str]] = {}
    for chunk in chunks:
        before: _Term | None = None
        for term in chunk:
            if term is not None:
                occurrences.setdefault(term.key, []).append(term)
                if before is not None:
                    right.setdefault(before.key, set()).add(term.key)
                    left.setdefault(term.key, set()).add(before.key)
            before = term
    tf = {key: len(found) for key, found in occurrences.items()}
    counts = list(tf.values())
    # Plain float arithmetic: statistics.pstdev works in exact fractions, ten times slower on short lists.
    mean = sum(counts) / len(counts)
    std = math.sqrt(sum((count - mean) ** 2 for count in counts) / len(counts))
    most = max(counts)
    scores: dict[str, float] = {}
    n_chunks = max(1, len(chunks))
    for key, found in occurrences.items():
        freq = tf[key]
        if freq == 1:  # most words of a caption: the sums and the median of one occurrence
            term = found[0]
            case: float = max(term.upper, term.acronym) if names else 0
            median: float = term.chunk
            spread = 1 / n_chunks
        else:
            casing = max(sum(t.upper for t in found), sum(t.acronym for t in found))
            case = casing / (1 + math.log(freq)) if names else 0
            seen = sorted(t.chunk for t in found)
            middle = len(seen) // 2
            median = seen[middle] if len(seen) % 2 else (seen[middle - 1] + seen[middle]) / 2
            spread = len(set(seen)) / n_chunks
        position = math.log(math.log(3 + median))
        norm = freq / (mean + std)
        relatedness = 1 + (len(left.get(key, ())) + len(right.get(key, ()))) / (2 * freq) * freq / most
        scores[key] = relatedness * position / (case + norm / relatedness + spread / relatedness)
    return scores


def keyphrases(text: str, lang: str, known: frozenset[str] = frozenset()) -> list[Phrase]:
    """The keyphrases of a caption text in ``lang`` (tags and mentions already removed), in text order."""
    chunks, words, capitals = _chunks(text, lang)
    runs = _runs(chunks)
    if not runs:
        return []
    # Casing says something only when most words are not capitalized (not Title Case, not ALL CAPS).
    names = capitals <= 0.6 * words
    scores = _term_scores(chunks, names)
    phrases = [(phrase, tuple(t.key for t in phrase)) for run in runs for phrase in _cut(run, lang, known, names)]
    phrase_tf = Counter(keys for _, keys in phrases)
    common = common_words(lang)
    found: dict[str, Phrase] = {}
    for phrase, keys in phrases:
        key = "".join(keys)
        if key in found or (len(keys) == 1 and key in common and key not in known and not (names and phrase[0].upper)):
            continue  # a very frequent word alone ("today", "schnell") says little, unless a tag of the video spells it
        terms = [scores[k] for k in keys]
        score = math.prod(terms) / (phrase_tf[keys] * (1 + sum(terms)))
        generic = any(t.generic for t in phrase) or (len(phrase) > 1 and is_generic(key))
        found[key] = Phrase(key, " ".join(t.display for t in phrase), round(1 / (1 + score), 4), keys, generic)
    # The best MAX_PHRASES, in the order of the text.
    best = set(sorted(found, key=lambda key: -found[key].weight)[:MAX_PHRASES])
    return [phrase for key, phrase in found.items() if key in best]
