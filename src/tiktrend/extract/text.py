"""Text normalization, canonical keyword keys and caption tokenization.

Keys are for matching, displays are for reading: a key is lower-cased, NFKC-normalized and stripped of edge
punctuation, keeps diacritics (``Đẹp`` → ``đẹp``, ``Straße`` → ``straße``) and collapses elongations
(``cuuuute`` → ``cute``); the display is the spelling first seen, with its case and diacritics.

Elongation rule: a run of 3 or more identical letters becomes one letter, doubles are kept (``coffee``,
``sooo`` → ``so``, ``cuuuute`` → ``cute``). Real triples are rare and are sacrificed consistently (German
``Schifffahrt`` → ``schifahrt``, glued tags such as ``coffeeeveryday``): every spelling of the word still
gets the same key. Generic reach tags collapse every repeat (``fypp`` → ``fyp``), see :mod:`generic`.

Everything here is a pure function of its input and the package word lists, so Spark's ``mapInPandas`` can
run it unchanged; the caches only remember results.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from operator import itemgetter

from tiktrend.extract.generic import generic_form, read_word_list
from tiktrend.extract.language import UNDETERMINED

# Longer "words" are sentences of scripts written without spaces (Chinese, Japanese, Thai) or keyboard mashes;
# they would only add unique keys. Segmenting those scripts is left to the keyphrase stage.
MAX_WORD_CHARS = 40


def _mark_ranges() -> str:
    """A regex class body of the combining marks (Mn, Mc) of the BMP, variation selectors excepted."""
    # Python's \w has no combining marks: without them Thai, Khmer or Myanmar words (and any decomposed
    # accent) would be cut in pieces. Marks beyond the BMP (historic scripts, musical notation) are left
    # out: they would turn the class into a slow list of ranges.
    ranges: list[tuple[int, int]] = []
    for code in range(0x10000):
        if 0xFE00 <= code <= 0xFE0F or unicodedata.category(chr(code)) not in ("Mn", "Mc"):
            continue
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return "".join(rf"\U{a:08x}-\U{b:08x}" if a != b else rf"\U{a:08x}" for a, b in ranges)


_MARKS = _mark_ranges()
_WORD_CHAR = rf"[{_MARKS}\w]"
_NOT_WORD = rf"(?:[^{_MARKS}\w]|_)"

# Invisible characters are dropped (they split or hide inside tags: fyp<ZWSP>page); typographic apostrophes
# become ' so that don’t and don't are one token. Done before NFKC, which would turn ´ into a space + accent.
_INVISIBLE = "\u00ad\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064"
_INVISIBLE += "\u2066\u2067\u2068\u2069\ufeff\u115f\u1160\u3164\uffa0"
_APOSTROPHES = "’‘ʼ`´"
_TRANSLATE = str.maketrans({**dict.fromkeys(_INVISIBLE), **dict.fromkeys(_APOSTROPHES, "'")})
# str.translate is slow per character; most texts have nothing to translate, which a search finds fast.
_TO_TRANSLATE = re.compile(f"[{_INVISIBLE}{_APOSTROPHES}]")

_EDGES = re.compile(rf"^{_NOT_WORD}+|{_NOT_WORD}+$")
_ELONGATION = re.compile(r"([^\W\d_])\1{2,}")
# A callable replacement: re.sub would parse a "\1" template again on every call.
_FIRST = itemgetter(1)
_SPACES = re.compile(rf"{_NOT_WORD}+")

# The label TikTok puts in front of a reply video's caption ("Replying to @x"), at the start only.
_REPLY = (
    r"^\s*(?:replying to|trả lời|antwort auf|antwort an|réponse à|en réponse à|respuesta a|respondiendo a"
    r"|respondendo a|membalas|ตอบกลับ)(?=\s*@|\s*$)"
)
_URL = r"(?:https?://|www\.)\S+"
_DOMAIN = (
    r"\b(?:[\w-]+\.)+(?:com|net|org|vn|io|co|me|ly|gg|tv|app|shop|store|link|info|de|fr|es|it|nl|be|ch|at"
    r"|uk|ru|br)\b(?:/\S*)?"
)
_EMAIL = r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
_MENTION = rf"@[{_MARKS}\w.]+"
# A mention shown by its display name: TikTok writes "@Juan Pérez", "@Lena & Jule", "@Marina Barrial". A
# mention that starts with a capital takes the next word (after an optional "&"), and one more capitalised
# word: they are the rest of a name, not caption words. Lower-case handles (@mrbeast) take nothing.
_DISPLAY_NAME = r"[^\W\d_][\w'-]*"
_NAMED_MENTION = rf"@(?=[^\W\d_a-z])[{_MARKS}\w.]+(?:\s+&)?[ \t]+{_DISPLAY_NAME}(?:[ \t]+(?=[A-ZÀ-Ỹ]){_DISPLAY_NAME})?"
# One pass finds everything a caption word must not come from; only the hashtag body is captured, so
# re.split returns [text, tag-or-None, text, ...].
# Boilerplate of creators' captions, in the languages of the data: calls to follow or subscribe, "link in
# bio", ad labels, episode numbers, copyright notes. They would be the most frequent "keywords" of a creator.
_BOILERPLATE = (
    r"\blink (?:is )?in (?:my |the )?bio\b|\b(?:please )?(?:subscribe|follow) (?:to )?(?:our|my|me)(?: \w+)?"
    r"(?: channel)?\b|\b(?:anzeige|werbung|unbezahlte werbung|quảng cáo)\b|\b(?:teil|part|pt|phần|parte|partie|ep)"
    r"\.? ?\d+\b|\btous? droits? réservés?(?: à)?\b|\btout droit réservé(?: à)?\b"
)


def _caption_split(dotted: bool, boilerplate: bool) -> re.Pattern[str]:
    """The pattern, without the alternatives a caption cannot match (emails and domains need a dot)."""
    # Those alternatives are tried at every position of every caption: most captions have no dot and no
    # boilerplate word, and skipping them halves the time of the split.
    parts = [_REPLY, _URL, *((_EMAIL, _DOMAIN) if dotted else ()), f"(?-i:{_NAMED_MENTION})", _MENTION]
    parts += [*((_BOILERPLATE,) if boilerplate else ()), rf"#({_WORD_CHAR}+)"]
    return re.compile("|".join(parts), re.IGNORECASE)


_CAPTION_SPLITS = {(dot, boiler): _caption_split(dot, boiler) for dot in (False, True) for boiler in (False, True)}
# Every boilerplate alternative holds one of these words, or a number (Teil 2, ep.3).
_BOILERPLATE_WORDS = ("link", "subscribe", "follow", "anzeige", "werbung", "quảng cáo", "droit")
_TAG = re.compile(rf"#({_WORD_CHAR}+)")
_TOKEN = re.compile(rf"{_WORD_CHAR}+(?:'{_WORD_CHAR}+)*")
TOKEN = _TOKEN
# Laughter (4 letters or more) in the languages at hand: haha, hihi, huhu, jajaja, jeje, ahah, wkwk. Not
# "jojo" (the anime) or "kiki".
_DOUBLES = re.compile(r"([^\W\d_])\1+")
_LAUGH = re.compile(r"^(?:(?:h[aeiou])+h?|(?:j[aeiu])+j?|a?(?:ha)+h?|(?:wk)+w?)$")

# Elided articles and pronouns glued to the next word with an apostrophe: l'amour → amour, j'adore → adore.
_ELISIONS = frozenset({"l", "d", "j", "c", "m", "t", "s", "n", "qu", "jusqu", "lorsqu", "puisqu", "dell", "nell"})


def normalize(text: str) -> str:
    """NFKC text without invisible characters and with one apostrophe; case and diacritics are kept."""
    if text.isascii():
        # Nothing to translate or compose; the common case for hashtags, worth its own path.
        return text.replace("`", "'")
    if _TO_TRANSLATE.search(text):
        text = text.translate(_TRANSLATE)
    return text if unicodedata.is_normalized("NFKC", text) else unicodedata.normalize("NFKC", text)


STOPWORD_LANGUAGES = ("en", "vi", "de", "fr", "es", "nl", "it")


def _load_stopwords() -> dict[str, frozenset[str]]:
    """Stop words per language, English added to each (captions mix English in), and their union."""
    keep = {normalize(word).lower() for word in read_word_list("stopwords_keep.txt")}
    lists = {
        lang: {normalize(word).lower() for word in read_word_list(f"stopwords_{lang}.txt")}
        for lang in STOPWORD_LANGUAGES
    }
    # The keep list guards content words against the stop words of *other* languages; once the language is
    # known, its own list applies in full (vi "ai" is "who", fr "son" is "his").
    by_lang = {lang: frozenset(words | (lists["en"] - keep)) for lang, words in lists.items()}
    # Undetermined or unsupported languages get the union: a stop word of any list is removed.
    by_lang[UNDETERMINED] = frozenset(set().union(*lists.values()) - keep)
    return by_lang


STOPWORDS_BY_LANGUAGE = _load_stopwords()
STOPWORDS = STOPWORDS_BY_LANGUAGE[UNDETERMINED]


def stopwords(lang: str) -> frozenset[str]:
    """The stop words removed from a text in ``lang``: its list plus English, or the union when unknown."""
    return STOPWORDS_BY_LANGUAGE.get(lang, STOPWORDS)


@lru_cache(maxsize=1 << 16)
def canonical(text: str) -> str:
    """The matching key of a tag or word: ``#BookTok``, ``booktok`` and ``BOOKTOK`` all give ``booktok``."""
    key = normalize(text).lower()
    if not key.isalnum():
        key = _EDGES.sub("", " ".join(key.split()))
    key = _ELONGATION.sub(_FIRST, key)
    if not key:
        return key
    return generic_form(key) or key


@lru_cache(maxsize=1 << 16)
def canonical_music(text: str) -> str:
    """The key of a sound title or author: inner punctuation becomes one space (``Espresso (Sped Up)``)."""
    # Apostrophes vanish instead (WHO'S THAT → whos that), which is how people type titles without them.
    folded = normalize(text).lower().replace("'", "")
    return " ".join(_SPACES.sub(" ", folded).split())


def split_caption(caption: str) -> tuple[list[str], str]:
    """The inline hashtags of a normalized caption, and its text without tags, mentions, URLs, emails."""
    # IGNORECASE also matches the dotless ı and the dotted İ (i + U+0307 once lower-cased) for an i.
    folded = caption.lower() if caption.isascii() else caption.lower().replace("ı", "i").replace("\u0307", "")
    boilerplate = any(word in folded for word in _BOILERPLATE_WORDS) or any(map(str.isdigit, caption))
    parts = _CAPTION_SPLITS["." in caption, boilerplate].split(caption)
    tags = [tag for tag in parts[1::2] if tag]
    # A line break where something was cut out: words on either side of a tag are not one phrase.
    return tags, "\n".join(parts[0::2])


def tag_bodies(tag: str) -> list[str]:
    """The hashtag bodies in one entry of a structured hashtag list (``#fyp#viral`` → two, emoji cut off)."""
    text = normalize(tag)
    if text.isalnum():
        return [text]
    stripped = _EDGES.sub("", text)
    return _TAG.findall("#" + stripped) if stripped else []


def words(text: str) -> list[str]:
    """The word tokens of a text (letters, digits and marks; word'word kept together), spelling unchanged."""
    # Underscores join words only in handles and tags, which are gone by now.
    return _TOKEN.findall(text.replace("_", " "))


def _strip_apostrophe(token: str) -> str:
    head, _, tail = token.partition("'")
    if head.lower() in _ELISIONS:
        return tail.partition("'")[0]
    # cat's → cat, rock'n'roll → rock: the head carries the meaning.
    return head


def word_key(token: str) -> str:
    """The key of one word as written: lower case, runs of three or more letters collapsed (``Sooo`` → ``so``)."""
    return _ELONGATION.sub(_FIRST, token.lower())


@lru_cache(maxsize=1 << 16)
def word_keyword(token: str, lang: str = UNDETERMINED) -> tuple[str, str, bool] | None:
    """``(key, display, is_generic)`` of a caption token; None for stop words, numbers, laughter, 1-letter tokens."""
    stop = stopwords(lang)
    if "'" in token:
        if token.lower() in stop:
            return None
        token = _strip_apostrophe(token)
    if not token or token[0].isdigit():
        return None
    key = word_key(token)
    # Two letters at least (isalpha settles most words without counting).
    if len(key) > MAX_WORD_CHARS or ((len(key) < 2 or not key.isalpha()) and sum(map(str.isalpha, key)) < 2):
        return None
    # Laughter is typed with doubled letters too (hhaahah, jajajaa): compare it with every run collapsed.
    if key in stop or (len(key) >= 4 and _LAUGH.match(_DOUBLES.sub(_FIRST, key))):
        return None
    generic = generic_form(key)
    return (key, token, False) if generic is None else (generic, token, True)
