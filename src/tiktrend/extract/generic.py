"""Generic reach tags (``fyp``, ``xuhuong``, ``viral`` ...): tags that ask for distribution and say nothing
about the content.

They are kept as mentions with ``is_generic=True`` so that detectors can ignore them while their volume stays
visible. A key is generic when, once decorations are stripped and repeated letters collapsed, it is a listed
reach tag (``data/generic_tags.txt``) or is glued together only from reach tags, the affixes of
``data/generic_affixes.txt`` and digits, with at least one reach tag among the pieces. So ``fyppppp``,
``fypシ゚``, ``𝐟𝐲𝐩``, ``fypviral``, ``xuhuong2025`` and ``viralvideo`` are generic, while ``trendy``,
``viralhog`` and ``fypqueen`` are not: a piece that is not on a list (``queen``) carries meaning, and tags
like ``fypqueen`` are usually a creator's own label.

Matching tolerates spelling noise on purpose (accents, doubled letters, look-alike Cyrillic letters) because
a false "generic" only hides a tag from detectors, and the lists are short and reviewed.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from importlib import resources
from operator import itemgetter

_DATA_PACKAGE = "tiktrend.extract"

# Small capitals (ꜰʏᴘ) have no compatibility decomposition, so NFKC leaves them alone.
_SMALL_CAPS = str.maketrans("ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢ", "abcdefghijklmnoprstuvwyz")
# Look-alike letters slipped into Latin tags (foryoupagе with a Cyrillic е); mapped only in mixed tags.
_HOMOGLYPHS = str.maketrans("аеорсухіјѕԁοαν", "aeopcyxijsdoav")
# Katakana シ/ツ/ッ and the sound marks are used as smileys (fypシ゚, fypツ), never as letters in these tags.
_DECORATIONS = frozenset("シツッ\u3099\u309a\ufe0e\ufe0f\u20e3")
_REPEATS = re.compile(r"([^\W\d_])\1+")
_LATIN_REPEATS = re.compile(r"([a-z])\1+")
_LONG_RUNS = re.compile(r"([^\W\d_])\1{2,}")
_LATIN = re.compile(r"[a-z]")
# A callable replacement: re.sub would parse a "\1" template again on every call.
_FIRST = itemgetter(1)


def read_word_list(name: str) -> tuple[str, ...]:
    """Entries of a package word list under ``extract/data/``, in file order: ``#`` starts a comment."""
    text = resources.files(_DATA_PACKAGE).joinpath("data", name).read_text(encoding="utf-8")
    words = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return tuple(dict.fromkeys(word for word in words if word))


def _letters(text: str) -> str:
    """The letters, digits and combining marks of a tag, lower-cased, without decorations."""
    folded = unicodedata.normalize("NFKC", text).lower()
    if folded.isascii():
        return folded if folded.isalnum() else "".join(ch for ch in folded if ch.isalnum())
    folded = folded.translate(_SMALL_CAPS)
    if _LATIN.search(folded):
        folded = folded.translate(_HOMOGLYPHS)
    kept = [
        ch for ch in folded if ch not in _DECORATIONS and (ch.isalnum() or unicodedata.category(ch).startswith("M"))
    ]
    return "".join(kept)


def _without_accents(text: str) -> str:
    """Latin accents removed (xuhướng and xuhuong compare equal); other scripts' marks kept."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d"))
    plain = "".join(ch for ch in decomposed if not "\u0300" <= ch <= "\u036f")
    return unicodedata.normalize("NFC", plain)


def _probe(letters: str) -> str:
    """The form compared with the lists: unaccented, every run of a letter collapsed."""
    return _REPEATS.sub(_FIRST, _without_accents(letters))


def _key(letters: str) -> str:
    """The keyword of a generic tag: runs of a Latin letter collapsed (fypp → fyp), other runs of 3+."""
    return unicodedata.normalize("NFC", _LONG_RUNS.sub(_FIRST, _LATIN_REPEATS.sub(_FIRST, letters)))


def _listed(name: str) -> dict[str, str]:
    """Probe → keyword of each entry of a list; the first entry of a probe gives its keyword."""
    listed: dict[str, str] = {}
    for entry in read_word_list(name):
        letters = _letters(entry)
        if letters:
            # The listed spelling is kept as written, doubles included (ddnxuhuong).
            listed.setdefault(_probe(letters), unicodedata.normalize("NFC", letters))
    return listed


# Listed tags keep their own spelling as keyword (ddnxuhuong, おすすめ) and give it to their variants
# (xuhướng → xuhuong).
_TAGS = _listed("generic_tags.txt")
_AFFIXES = frozenset(_listed("generic_affixes.txt")) - frozenset(_TAGS)
# Longer tags are sentences, not glued reach tags, and would make the pattern below backtrack for long.
_MAX_GLUED = 64


def _alternatives(pieces: frozenset[str]) -> str:
    return "|".join(re.escape(piece) for piece in sorted(pieces, key=lambda piece: (-len(piece), piece)))


# Glued tags: listed tags, affixes and digits only, with one listed tag at least (viral+video, fyp+2025).
# Digits are matched one at a time: (\d+)* would backtrack exponentially on a long number.
_GLUED = re.compile(
    rf"(?:{_alternatives(_AFFIXES)}|\d)*(?:{_alternatives(frozenset(_TAGS))})"
    rf"(?:{_alternatives(_AFFIXES | frozenset(_TAGS))}|\d)*"
)


# What a glued tag can start with: the first two letters of a listed piece, a one-letter piece, or a digit. Most
# words start otherwise, and this set lookup spares them the pattern.
_PIECES = _AFFIXES | frozenset(_TAGS)
_GLUED_STARTS = frozenset(piece[:2] for piece in _PIECES) | frozenset(piece for piece in _PIECES if len(piece) == 1)


def _may_be_glued(probe: str) -> bool:
    return probe[:2] in _GLUED_STARTS or probe[:1] in _GLUED_STARTS or probe[:1].isdigit()


def _is_abcxyz(probe: str) -> bool:
    # Vietnamese and Indonesian filler tags scramble abc/xyz (abcxyz, xyzbca, zxycba, xybca).
    return len(probe) >= 5 and not probe.strip("abcxyz") and "x" in probe and "y" in probe


@lru_cache(maxsize=1 << 16)
def generic_form(text: str) -> str | None:
    """The collapsed key of a generic reach tag (``fypシ゚`` → ``fyp``), or None when the text is not one."""
    letters = _letters(text)
    if not letters:
        return None
    probe = _probe(letters)
    if probe in _TAGS:
        return _TAGS[probe]
    if _is_abcxyz(probe) or (len(probe) <= _MAX_GLUED and _may_be_glued(probe) and _GLUED.fullmatch(probe)):
        return _key(letters)
    return None


def is_generic(key: str) -> bool:
    """Whether a keyword (any spelling) is a generic reach tag such as ``fyp``, ``xuhuong`` or ``viral``."""
    return generic_form(key) is not None
