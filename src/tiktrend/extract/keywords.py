"""The extraction stage: keyword mentions of each video from its hashtags, caption words and sound.

Modalities and keys:

- ``hashtag``: the structured ``hashtags`` list and the ``#tags`` inline in the caption, merged by key.
  Tags without a letter (``#1``, ``#2025``) are dropped.
- ``caption``: keyphrases (one to three words, :mod:`tiktrend.extract.phrases`) of the caption once hashtags,
  @mentions, URLs and emails are gone; stop words of the detected language (:mod:`tiktrend.extract.language`),
  numbers and laughter cut phrases and are never keywords. A phrase's key is its words glued, the key of the
  hashtag with the same words. Weight: the phrase's YAKE-style score in (0, 1].
- ``emoji``: each distinct emoji of the caption (:mod:`tiktrend.extract.emojis`), weight 1.
- ``transcript``: keyphrases of the subtitles or speech (the optional ``transcript`` column, WebVTT or plain
  text, :mod:`tiktrend.extract.audio`), scored like the caption's.
- ``music``: the sound title (its artist only when it has no title). A creator's own sound ("original sound -
  X", "nhạc nền - X", ``music_original`` true) is one keyword of its own, ``original sound - x`` whatever
  the language of the label, and its author is not added: the creator is not an artist people search for.

``weight`` is 1.0 for hashtags, sounds and emoji; caption keyphrases carry their score.
``is_generic`` marks reach tags (:mod:`tiktrend.extract.generic`) in hashtags and caption words; sounds are
never generic (a song may be called "Viral").

A video observed several times yields its mentions once: identical observations are skipped, differing ones
(an edited caption) add their new mentions. Rows are sorted by video id, modality and keyword, so the output
does not depend on the input order, only the display spelling (the first one seen) does. Under Spark, give
all observations of a video to the same partition (repartition by ``video_id``) to keep this property.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from operator import itemgetter
from typing import NamedTuple

import numpy as np
import pandas as pd

from tiktrend.extract.audio import transcript_text
from tiktrend.extract.emojis import emoji_keys
from tiktrend.extract.generic import is_generic
from tiktrend.extract.language import detect_language, detect_languages
from tiktrend.extract.phrases import keyphrases
from tiktrend.extract.text import (
    canonical,
    canonical_music,
    normalize,
    split_caption,
    tag_bodies,
)
from tiktrend.models import MENTION_COLUMNS

WEIGHT = 1.0
ORIGINAL_SOUND = "original sound"
_INPUT_COLUMNS = ("video_id", "caption", "hashtags", "music_title", "music_author", "music_original")

# The label TikTok gives a creator's own sound, in the languages of the app seen in the data.
_ORIGINAL_LABELS = (
    "original sound",
    "nhạc nền",
    "âm thanh gốc",
    "son original",
    "originalton",
    "sonido original",
    "som original",
    "suono originale",
    "origineel geluid",
    "originalljud",
    "originallyd",
    "orijinal ses",
    "dźwięk oryginalny",
    "originální zvuk",
    "оригинальный звук",
    "оригінальний звук",
    "suara asli",
    "bunyi asal",
    "tunog orihinal",
    "เสียงต้นฉบับ",
    "សំឡេងដើម",
    "မူရင်းအသံ",
    "原声",
    "原聲",
    "原创音乐",
    "オリジナル楽曲",
    "오리지널 사운드",
    "الصوت الأصلي",
)
_ORIGINAL_SOUND = re.compile(rf"^(?:{'|'.join(map(re.escape, _ORIGINAL_LABELS))})\s*(?:[-–—]\s*(.*))?$", re.IGNORECASE)

# (keyword, display, modality, is_generic, weight)
Mention = tuple[str, str, str, bool, float]
_modality_keyword = itemgetter(2, 0)


@lru_cache(maxsize=1 << 16)
def tag_keyword(body: str) -> tuple[str, str] | None:
    """``(key, display)`` of one hashtag body, or None when it has no letter."""
    key = canonical(body)
    if not any(ch.isalpha() for ch in key):
        return None
    return key, body.strip("_")


def _music_key(text: str) -> str:
    # A title made only of emoji is still a title: keep its characters rather than lose the sound.
    return canonical_music(text) or " ".join(text.lower().split())


@lru_cache(maxsize=1 << 16)
def music_keywords(title: str, author: str, original: bool) -> tuple[tuple[str, str], ...]:
    """``(key, display)`` of a sound: its title (the artist when untitled), or one ``original sound - x``."""
    title = " ".join(normalize(title).split())
    author = " ".join(normalize(author).split())
    label = _ORIGINAL_SOUND.match(title)
    if label is not None:
        name = label.group(1) or author
        if not name:
            # "original sound" alone would merge every creator's sound into one keyword.
            return ()
        display = title if label.group(1) else f"{title} - {author}"
        return ((f"{ORIGINAL_SOUND} - {_music_key(name)}", display),)
    # A sound is one keyword: its title. Adding the artist as a second keyword made every trending sound
    # appear twice in a ranking; the artist names the sound only when there is no title.
    if title:
        return ((_music_key(title), title),)
    if author and not original:
        return ((_music_key(author), author),)
    return ()


# The per-item steps below are cached: hashtags, words and sounds repeat a lot across videos.
@lru_cache(maxsize=1 << 16)
def _entry_mentions(entry: str) -> tuple[Mention, ...]:
    keywords = (tag_keyword(body) for body in tag_bodies(entry))
    return tuple((kw[0], kw[1], "hashtag", is_generic(kw[0]), WEIGHT) for kw in keywords if kw is not None)


@lru_cache(maxsize=1 << 16)
def _tag_mention(body: str) -> Mention | None:
    keyword = tag_keyword(body)
    return None if keyword is None else (keyword[0], keyword[1], "hashtag", is_generic(keyword[0]), WEIGHT)


# Whole captions are the largest cache keys (~600 bytes an entry with their phrases): this bound keeps the
# cache near 10 MB. Repeated observations of a video are folded within a chunk before this cache is asked,
# so a larger one bought no speed on the simulator's hourly crawls (82,160 records: 5.7 s either way).
@lru_cache(maxsize=1 << 14)
def caption_mentions(
    text: str, known: frozenset[str] = frozenset(), modality: str = "caption", lang: str | None = None
) -> tuple[Mention, ...]:
    """The keyphrase mentions of a text (a caption without tags, mentions and URLs, or a transcript).

    ``lang``: the text's language when already detected (:func:`detect_languages` over a whole chunk).
    """
    if lang is None:
        lang = detect_language(text)[0]
    phrases = keyphrases(text, lang, known)
    return tuple((phrase.key, phrase.display, modality, phrase.generic, phrase.weight) for phrase in phrases)


class Prepared(NamedTuple):
    """A caption normalized, its inline hashtags, its text without tags, mentions, URLs and emails, and the
    text's language (None: detected when needed)."""

    normalized: str
    tags: tuple[str, ...]
    text: str
    lang: str | None = None


def prepare_caption(caption: str) -> Prepared:
    """The parts of a caption that extraction reads (its language left to detect)."""
    normalized = normalize(caption)
    tags, text = split_caption(normalized)
    return Prepared(normalized, tuple(tags), text)


def prepare_captions(captions: Iterable[str]) -> dict[str, Prepared]:
    """The parts of distinct captions, with their texts' languages detected in one pass of the model."""
    parts = {caption: prepare_caption(caption) for caption in captions}
    texts = list({part.text for part in parts.values()})
    languages = {text: lang for text, (lang, _) in zip(texts, detect_languages(texts), strict=True)}
    return {caption: part._replace(lang=languages[part.text]) for caption, part in parts.items()}


def video_mentions(
    caption: str,
    hashtags: Iterable[str],
    music_title: str,
    music_author: str,
    music_original: bool,
    transcript: str = "",
    prepared: Prepared | None = None,
) -> list[Mention]:
    """The mentions of one video, one per (keyword, modality): hashtags, caption phrases, emoji, the sound.

    ``prepared``: the caption's parts and language, worked out for a whole chunk (:func:`prepare_captions`).
    """
    normalized, caption_tags, text, lang = prepared or prepare_caption(caption)
    found: dict[tuple[str, str], Mention] = {}
    for entry in hashtags:
        for tag in _entry_mentions(entry):
            found.setdefault((tag[0], "hashtag"), tag)
    for inline in map(_tag_mention, caption_tags):
        if inline is not None:
            found.setdefault((inline[0], "hashtag"), inline)
    # A caption phrase that spells one of the video's hashtags (glued) becomes that hashtag's keyword.
    known = frozenset(key for key, _ in found) if text.strip() else frozenset()
    for phrase in caption_mentions(text, known, "caption", lang):
        found.setdefault((phrase[0], "caption"), phrase)
    for emoji in emoji_keys(normalized):
        found.setdefault((emoji, "emoji"), (emoji, emoji, "emoji", False, WEIGHT))
    for key, display in music_keywords(music_title, music_author, music_original):
        found.setdefault((key, "music"), (key, display, "music", False, WEIGHT))
    if transcript:
        for spoken in caption_mentions(normalize(transcript_text(transcript)), known, "transcript"):
            found.setdefault((spoken[0], "transcript"), spoken)
    return list(found.values())


def _text(value: object) -> str:
    # Missing values arrive as None, NaN or pd.NA depending on the column's dtype.
    return value if type(value) is str else ""


def _tags(value: object) -> tuple[str, ...]:
    if isinstance(value, list | tuple | np.ndarray):
        return tuple(tag for tag in value if type(tag) is str)
    if type(value) is str:
        return tuple(value.split(","))
    return ()


def _flag(value: object) -> bool:
    if value is True or value is False:
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    return type(value) is str and value.strip().lower() == "true"


def extract_mentions(videos: pd.DataFrame) -> pd.DataFrame:
    """The keyword mentions (``MENTION_COLUMNS``) of a videos frame, one row per video, key and modality."""
    missing = [column for column in _INPUT_COLUMNS if column not in videos.columns]
    if missing:
        raise KeyError(f"videos frame lacks the columns {missing}")
    # Subtitles and speech are optional: most sources have none.
    spoken = videos["transcript"].tolist() if "transcript" in videos.columns else [None] * len(videos)
    seen: set[tuple[object, ...]] = set()
    observations: list[tuple[str, str, tuple[str, ...], str, str, bool, str]] = []
    columns = (videos[column].tolist() for column in _INPUT_COLUMNS)
    for *row, transcript in zip(*columns, spoken, strict=True):
        video_id = row[0] if type(row[0]) is str else str(row[0])
        observation = (
            video_id,
            _text(row[1]),
            _tags(row[2]),
            _text(row[3]),
            _text(row[4]),
            _flag(row[5]),
            _text(transcript),
        )
        if observation not in seen:
            seen.add(observation)
            observations.append(observation)
    # The languages of all caption texts in one pass of the model (a numpy step walks every text at once).
    prepared = prepare_captions({observation[1] for observation in observations})
    found: dict[str, list[Mention]] = {}
    for video_id, caption, tags, title, author, original, transcript in observations:
        mentions = video_mentions(caption, tags, title, author, original, transcript, prepared[caption])
        if video_id in found:
            mentions = _merge(found[video_id], mentions)
        found[video_id] = mentions
    return _frame(found)


def _merge(first: list[Mention], later: list[Mention]) -> list[Mention]:
    """The mentions of two observations of one video, the first observation's displays winning."""
    merged = {(mention[0], mention[2]): mention for mention in later}
    merged.update({(mention[0], mention[2]): mention for mention in first})
    return list(merged.values())


def _frame(found: dict[str, list[Mention]]) -> pd.DataFrame:
    """The mention frame, rows sorted by video id, modality and keyword."""
    video_ids: list[str] = []
    rows: list[Mention] = []
    for video_id in sorted(found):
        mentions = sorted(found[video_id], key=_modality_keyword)
        video_ids += [video_id] * len(mentions)
        rows += mentions
    return pd.DataFrame(
        {
            "video_id": pd.Series(video_ids, dtype="str"),
            "keyword": pd.Series([row[0] for row in rows], dtype="str"),
            "display": pd.Series([row[1] for row in rows], dtype="str"),
            "modality": pd.Series([row[2] for row in rows], dtype="str"),
            "weight": np.fromiter((row[4] for row in rows), dtype=np.float64, count=len(rows)),
            "is_generic": np.fromiter((row[3] for row in rows), dtype=bool, count=len(rows)),
        },
        columns=list(MENTION_COLUMNS),
    )
