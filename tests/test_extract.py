"""Keyword extraction: canonical keys, hashtags, caption words, generic reach tags, sounds, the stage."""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiktrend.extract import text as text_module
from tiktrend.extract.generic import generic_form, is_generic
from tiktrend.extract.keywords import extract_mentions, music_keywords, video_mentions
from tiktrend.extract.language import detect_languages
from tiktrend.extract.text import canonical, canonical_music, normalize, split_caption, word_keyword
from tiktrend.models import MENTION_COLUMNS, VIDEO_COLUMNS

VN_CSV = Path(__file__).parents[2] / "shared" / "data" / "vn_videos_2025.csv"


def videos(*rows: dict[str, Any]) -> pd.DataFrame:
    """A videos frame with every VIDEO_COLUMNS column; unspecified fields empty."""
    filled = [{**dict.fromkeys(VIDEO_COLUMNS), "caption": "", "hashtags": [], "source": "test", **row} for row in rows]
    return pd.DataFrame(filled, columns=list(VIDEO_COLUMNS))


def keys(caption: str = "", hashtags: tuple[str, ...] = (), modality: str | None = None) -> list[str]:
    mentions = video_mentions(caption, hashtags, "", "", False)
    return [key for key, _, kind, _, _ in mentions if modality is None or kind == modality]


# --- canonical keys


@pytest.mark.parametrize("spelling", ["#BookTok", "booktok", "BOOKTOK", " #booktok! ", "ｂｏｏｋｔｏｋ", "𝐁𝐨𝐨𝐤𝐓𝐨𝐤"])
def test_canonical_merges_case_width_and_styled_letters(spelling: str) -> None:
    assert canonical(spelling) == "booktok"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Đẹp", "đẹp"),
        ("Straße", "straße"),  # lower(), not casefold(): ß stays recognisable
        ("Café", "café"),
        ("Cafe\u0301", "café"),  # decomposed accents are composed
        ("ẨmThực", "ẩmthực"),
        ("  hello \t  world ", "hello world"),
        ("¡Hola!", "hola"),
        ("...wow...", "wow"),
    ],
)
def test_canonical_keeps_diacritics_and_trims(text: str, key: str) -> None:
    assert canonical(text) == key


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("cuuuute", "cute"),
        ("sooooo", "so"),
        ("Omaaaaa", "oma"),
        ("coffee", "coffee"),  # doubles are spelling, not elongation
        ("hello", "hello"),
        ("all", "all"),
        ("1000", "1000"),  # digits never collapse
        # Known cost of the rule: real triples collapse too, the same way for every spelling.
        ("Schifffahrt", "schifahrt"),
        # Generic tags collapse every run so that their variants merge.
        ("fyppppppppp", "fyp"),
        ("fypp", "fyp"),
        ("xhhhhhhhhhh", "xh"),
        ("fypシ゚", "fyp"),
        ("xuhướng", "xuhuong"),
    ],
)
def test_canonical_collapses_elongations(text: str, key: str) -> None:
    assert canonical(text) == key


@settings(max_examples=300)
@given(st.text() | st.text(alphabet="fypxhviraltok#@ _.-'’🔥シ゚ẩđ2 ", max_size=30))
def test_canonical_is_idempotent(text: str) -> None:
    assert canonical(canonical(text)) == canonical(text)


@pytest.mark.parametrize(
    ("title", "key"),
    [
        ("Espresso (Sped Up)", "espresso sped up"),
        ("WHO'S THAT", "whos that"),
        ("Bắc Bling (Bắc Ninh) (Prod. by Masew)", "bắc bling bắc ninh prod by masew"),
        ("Walking Around - Instrumental Version", "walking around instrumental version"),
        ("𝐓𝐮𝐚𝐧 𝐇𝐮𝐮 💫", "tuan huu"),
    ],
)
def test_canonical_music_turns_inner_punctuation_into_spaces(title: str, key: str) -> None:
    assert canonical_music(title) == key


# --- hashtags


def test_hashtags_are_the_union_of_the_list_and_the_caption() -> None:
    mentions = video_mentions("love this #booktok #NewBook", ["BookTok", "fyp"], "", "", False)
    tags = {key: display for key, display, modality, _, _ in mentions if modality == "hashtag"}
    assert tags == {"booktok": "BookTok", "fyp": "fyp", "newbook": "NewBook"}


def test_hashtag_runs_split() -> None:
    assert keys("#fyp#viral#BookTok", modality="hashtag") == ["fyp", "viral", "booktok"]
    assert keys(hashtags=("#fyp#viral",), modality="hashtag") == ["fyp", "viral"]
    assert keys("Ya es hora#tuliacosta", modality="hashtag") == ["tuliacosta"]


def test_hashtags_in_any_script_without_trailing_emoji() -> None:
    assert keys("#xuhướng🔥 #ẩmthực #เทรนด์วันนี้ #ẩmthực", modality="hashtag") == [
        "xuhuong",
        "ẩmthực",
        "เทรนด์วันนี้",
    ]
    assert keys(hashtags=("hungmusic💫", "tuncuibap2🌽🌽🌽", "💞angelsedit💞"), modality="hashtag") == [
        "hungmusic",
        "tuncuibap2",
        "angelsedit",
    ]


def test_hashtags_without_a_letter_are_dropped() -> None:
    assert keys("#1 #2025 #💛 #30thang4", ("_",), modality="hashtag") == ["30thang4"]


# --- caption words


def test_caption_drops_mentions_urls_numbers_emoji_and_punctuation() -> None:
    caption = (
        "Replying to @mrbeast @Team_Sabrina 😂🔥!!! https://t.co/x www.example.org shop.vn/abc "
        "me: a.b@example.com 100k 2025 3am 1st 24h x2 #tag hello"
    )
    assert keys(caption, modality="caption") == ["hello"]


def test_vietnamese_reply_label_is_not_a_keyword() -> None:
    assert keys("Trả lời", modality="caption") == []


@pytest.mark.parametrize(
    ("caption", "words"),
    [
        # Words rarer than the most frequent of each language (those are not keywords alone).
        ("The kitten is on the sofa and it's so cute", ["kitten", "sofa", "cute"]),
        ("Ich bin mit dem Dackel im Stadtpark, weil es gemütlich ist", ["dackel", "stadtpark", "gemütlich"]),
        ("Je suis avec le chaton dans la véranda, c'est l'amour", ["chaton", "véranda"]),
        ("El perrito está en la playa con mi hermano", ["perrito", "playa"]),
        # Vietnamese syllables form words (hôm nay, người yêu, Đà Lạt), of which the nouns are keywords.
        ("Hôm nay đi học với người yêu ở Đà Lạt", ["hômnay", "ngườiyêu", "đàlạt"]),
        ("ôn thi đại học", ["đạihọc"]),
        ("khong duoc roi, nguoi ta nhu the", []),
        ("Ik ga met de puppy naar het strand", ["puppy"]),
        ("Oggi vado alla spiaggia con il cagnolino", ["spiaggia", "cagnolino"]),
    ],
)
def test_stop_words_are_removed_in_each_language(caption: str, words: list[str]) -> None:
    assert keys(caption, modality="caption") == words


def test_content_words_of_other_languages_survive_the_union_of_stop_lists() -> None:
    # English words that are function words elsewhere (French son, car, été; German war, hat) are words in English;
    # the most frequent of them are still not keywords alone (common_words.txt), the rarer ones are.
    for word in ("son", "war", "hat", "sea", "car", "summer", "été"):
        assert word_keyword(word, "en") is not None
    caption = "AI era: my son went to war with a hat, the sea, a car, this summer (été), JoJo"
    assert keys(caption, modality="caption") == ["ai", "era", "hat", "été", "jojo"]


def test_caption_words_keep_their_first_spelling_and_merge_elongations() -> None:
    mentions = video_mentions("Sooo CUUUTE, cute cute kitten hahaha jajaja", [], "", "", False)
    assert [(key, display) for key, display, _, _, _ in mentions] == [("cute", "CUUUTE"), ("kitten", "kitten")]


def test_generic_caption_words_are_flagged() -> None:
    mentions = video_mentions("bắt trend mới nè", [], "", "", False)
    assert [(key, generic) for key, _, _, generic, _ in mentions] == [("trend", True)]  # bắt, "catch", is a verb
    mentions = video_mentions("so viral, my cat", [], "", "", False)
    assert [(key, generic) for key, _, _, generic, _ in mentions] == [("viral", True), ("cat", False)]


# --- generic reach tags


@pytest.mark.parametrize(
    "tag",
    [
        "fyp",
        "FYP",
        "fy",
        "foryou",
        "foryoupage",
        "viral",
        "trending",
        "trend",
        "tiktok",
        "capcut",
        "xuhuong",
        "xuhuongtiktok",
        "xh",
        "explorepage",
        "parati",
        "pourtoi",
        "fürdich",
        "fuerdich",
        "keşfet",
        "おすすめ",
        # elongated
        "fyppppppppp",
        "xhhhhhhhhhh",
        "viralllll",
        "foryouuuu",
        "paratiiiiiiii",
        # decorated
        "fypシ゚",
        "fypシ",
        "fypツ",
        "fyp✨",
        "fyp゚viral",
        "ᶠʸᵖ",
        "𝐟𝐲𝐩",
        "ꜰʏᴘ",
        "ＦＹＰ",
        "foryoupagе",  # Cyrillic е
        "fyp\u200bpage",  # zero-width space
        "xuhướng",
        # glued
        "fypviral",
        "fyp2025",
        "xuhuong2025",
        "xuhuongtiktok2024",
        "viraltiktok",
        "viralvideo",
        "trendingvideo",
        "xhtiktok",
        "fürdichpage",
        "tiktokvietnam",
        # fillers
        "abcxyz",
        "xyzbca",
        "zxycba",
    ],
)
def test_generic_reach_tags(tag: str) -> None:
    assert is_generic(tag)


@pytest.mark.parametrize(
    "tag",
    [
        "trendy",  # a fashion word
        "viralhog",  # a brand
        "fypqueen",  # a creator's own label: "queen" is not a reach piece
        "booktok",
        "tiktokshop",
        "learnontiktok",  # a TikTok programme, names a topic
        "tiktokgiaitri",
        "tiktoker",
        "video",  # affixes count only when glued to a reach tag
        "vietnam",
        "2025",
        "edit",
        "cute",
        "dancetrend",
        "xhtml",
        "",
        "🔥",
    ],
)
def test_not_generic(tag: str) -> None:
    assert not is_generic(tag)


def test_generic_form_is_the_collapsed_key() -> None:
    assert generic_form("fyppppp") == "fyp"
    assert generic_form("FYP✨") == "fyp"
    assert generic_form("ddnxuhuonggggg") == "ddnxuhuong"  # a listed spelling keeps its doubles
    assert generic_form("booktok") is None


# --- music


@pytest.mark.parametrize(
    ("title", "author", "original", "expected"),
    [
        (
            "Espresso (Sped Up)",
            "Sabrina Carpenter",
            False,
            [("espresso sped up", "Espresso (Sped Up)")],  # one keyword per sound: no artist row
        ),
        ("original sound - Ashyy", "Ashyy", False, [("original sound - ashyy", "original sound - Ashyy")]),
        (
            "nhạc nền - 🦩Trà Vy 👅",
            "🦩Trà Vy 👅",
            True,
            [("original sound - trà vy", "nhạc nền - 🦩Trà Vy 👅")],
        ),
        ("nhạc nền - Gia Hao", "Levi's", False, [("original sound - gia hao", "nhạc nền - Gia Hao")]),
        (
            "son original - Quotidien",
            "Quotidien",
            False,
            [("original sound - quotidien", "son original - Quotidien")],
        ),
        (
            "sonido original - DAZN España",
            "",
            False,
            [("original sound - dazn españa", "sonido original - DAZN España")],
        ),
        ("Originalton", "𝐁𝐄𝐍𝐆Ü", False, [("original sound - bengü", "Originalton - BENGÜ")]),
        ("nhạc nền - 🦋", "", False, [("original sound - 🦋", "nhạc nền - 🦋")]),
        ("Mixset bồng bềnh vol 5", "DJ Bii", True, [("mixset bồng bềnh vol 5", "Mixset bồng bềnh vol 5")]),
        ("", "Alyssa", False, [("alyssa", "Alyssa")]),
        ("", "Alyssa", True, []),
        ("original sound", "", False, []),
        ("   ", "", False, []),
    ],
)
def test_music_keywords(title: str, author: str, original: bool, expected: list[tuple[str, str]]) -> None:
    assert list(music_keywords(title, author, original)) == expected


def test_creator_sounds_in_any_app_language_share_one_key() -> None:
    spellings = [
        "original sound - Hans",
        "nhạc nền - HANS",
        "Originalton - hans",
        "suara asli - Hans",
        "原声 - Hans",
    ]
    assert {music_keywords(title, "", False)[0][0] for title in spellings} == {"original sound - hans"}


# --- the stage function


_SPLIT_WORDS = st.sampled_from(
    [
        "link in bio",
        "LINK IN BIO",
        "lınk in bio",
        "Lİnk in Bio",
        "Teil 2",
        "ep.3",
        "follow me",
        "Anzeige",
        "a@b.co",
        "x.com/y",
        "www.x.de",
        "@Lena & Jule",
        "#tag",
        "Tous droits réservés",
        "quảng cáo",
        "Replying to @x",
        " ",
        "\n",
    ]
)


@settings(max_examples=300)
@given(st.lists(st.one_of(_SPLIT_WORDS, st.text(max_size=8)), max_size=12))
def test_caption_split_shortcut_equals_the_full_pattern(pieces: list[str]) -> None:
    # The split skips alternatives a caption cannot match (no dot: no email or domain; no boilerplate word).
    caption = normalize(" ".join(pieces))
    full = text_module._caption_split(True, True)
    parts = full.split(caption)
    assert split_caption(caption) == ([tag for tag in parts[1::2] if tag], "\n".join(parts[0::2]))


@settings(max_examples=100)
@given(
    st.lists(st.one_of(st.text(), st.sampled_from(["the cat sat on the mat", "der Hund und die Katze"])), max_size=40)
)
def test_languages_of_a_batch_are_those_of_each_text_alone(texts: list[str]) -> None:
    # The batch walk (numpy steps, then text by text for the longest) gives each text its own answer.
    assert detect_languages(texts) == [detect_languages([text])[0] for text in texts]


@settings(max_examples=200)
@given(st.text(), st.lists(st.text(), max_size=5), st.text(), st.text(), st.booleans())
def test_any_input_gives_one_nonempty_key_per_modality(
    caption: str, hashtags: list[str], title: str, author: str, original: bool
) -> None:
    mentions = video_mentions(caption, hashtags, title, author, original)
    assert len({(key, modality) for key, _, modality, _, _ in mentions}) == len(mentions)
    assert all(key and display for key, display, _, _, _ in mentions)


def test_output_columns_and_dtypes() -> None:
    out = extract_mentions(videos({"video_id": "1", "caption": "hello #fyp", "music_title": "Song"}))
    text = pd.Series([], dtype="str").dtype
    assert tuple(out.columns) == MENTION_COLUMNS
    assert out.dtypes.to_dict() == {
        "video_id": text,
        "keyword": text,
        "display": text,
        "modality": text,
        "weight": np.dtype("float64"),
        "is_generic": np.dtype("bool"),
    }
    assert out.to_dict("records") == [
        {
            "video_id": "1",
            "keyword": "hello",
            "display": "hello",
            "modality": "caption",
            "weight": 0.957,
            "is_generic": False,
        },
        {
            "video_id": "1",
            "keyword": "fyp",
            "display": "fyp",
            "modality": "hashtag",
            "weight": 1.0,
            "is_generic": True,
        },
        {
            "video_id": "1",
            "keyword": "song",
            "display": "Song",
            "modality": "music",
            "weight": 1.0,
            "is_generic": False,
        },
    ]


def test_empty_input_gives_an_empty_frame_with_the_contract() -> None:
    out = extract_mentions(videos())
    assert out.empty
    assert tuple(out.columns) == MENTION_COLUMNS
    assert out.dtypes.to_dict() == extract_mentions(videos({"video_id": "1", "caption": "x hello"})).dtypes.to_dict()


def test_repeated_video_yields_its_mentions_once() -> None:
    first = {
        "video_id": "7",
        "caption": "Cute kitten #cat",
        "hashtags": ["Cat"],
        "music_title": "Song",
        "music_author": "Band",
    }
    edited = {**first, "caption": "cute kitten and puppy #cat"}
    out = extract_mentions(videos(first, {"video_id": "8", "caption": "kitten"}, first, edited, first))
    assert not out.duplicated(["video_id", "keyword", "modality"]).any()
    seven = out[out.video_id == "7"]
    assert sorted(zip(seven.modality, seven.keyword, strict=True)) == [
        ("caption", "cute"),
        ("caption", "kitten"),
        ("caption", "puppy"),
        ("hashtag", "cat"),
        ("music", "song"),
    ]
    # The first observation's spellings win.
    assert dict(zip(seven.keyword, seven.display, strict=True))["cute"] == "Cute"
    assert dict(zip(seven.keyword, seven.display, strict=True))["cat"] == "Cat"


def test_order_does_not_depend_on_input_order() -> None:
    frame = videos(
        {"video_id": "b", "caption": "zebra apple #fyp", "music_title": "Song"},
        {"video_id": "a", "caption": "mango", "hashtags": ["booktok"]},
    )
    out = extract_mentions(frame)
    assert list(zip(out.video_id, out.modality, out.keyword, strict=True)) == [
        ("a", "caption", "mango"),
        ("a", "hashtag", "booktok"),
        ("b", "caption", "apple"),
        ("b", "caption", "zebra"),
        ("b", "hashtag", "fyp"),
        ("b", "music", "song"),
    ]
    assert out.equals(extract_mentions(frame.iloc[::-1].reset_index(drop=True)))


def test_missing_values_of_any_kind_are_empty() -> None:
    frame = videos({"video_id": "1"}, {"video_id": "2"}, {"video_id": "3", "caption": "ok hello"})
    frame["caption"] = frame["caption"].astype(object)
    frame.loc[0, "caption"] = np.nan
    frame.loc[1, "caption"] = None
    frame["hashtags"] = pd.Series([None, np.array(["fyp", None], dtype=object), ("cat",)], dtype=object)
    frame["music_title"] = pd.Series([pd.NA, None, np.nan], dtype=object)
    frame["music_original"] = pd.array([pd.NA, True, False], dtype="boolean")
    out = extract_mentions(frame)
    assert list(zip(out.video_id, out.keyword, strict=True)) == [("2", "fyp"), ("3", "hello"), ("3", "cat")]


def test_numeric_video_ids_become_strings() -> None:
    out = extract_mentions(videos({"video_id": 7541035053569051926, "caption": "hello"}))
    assert out.video_id.tolist() == ["7541035053569051926"]


def test_missing_columns_are_reported() -> None:
    with pytest.raises(KeyError, match="hashtags"):
        extract_mentions(pd.DataFrame({"video_id": ["1"], "caption": ["x"]}))


# --- real data


def _vn_videos() -> pd.DataFrame:
    with VN_CSV.open(encoding="utf-8-sig", newline="") as handle:
        rows = [
            {
                "video_id": row["vid_id"],
                "caption": row["vid_caption"],
                "hashtags": [tag.strip() for tag in row["vid_hashtags"].split(",") if tag.strip()],
                "music_title": row["music_title"] or None,
                "music_author": row["music_authorName"] or None,
                "music_original": {"True": True, "False": False}.get(row["music_originality"]),
            }
            for row in csv.DictReader(handle)
        ]
    return videos(*rows)


# An independent, deliberately broad view of what a reach tag looks like, to catch gaps in the list.
_REACH_LOOK = re.compile(
    r"fyp|foryou|fypage|xuhuong|xhuong|viral|vairal|trending|thinhhanh|abcxyz|xyzbca|^(?:xh+|fy|tiktok|trend|capcut)$"
)


@pytest.mark.skipif(not VN_CSV.exists(), reason="shared VN sample data not present")
def test_no_reach_tag_among_the_top_vietnamese_hashtags() -> None:
    out = extract_mentions(_vn_videos())
    tags = out[out.modality == "hashtag"]
    top = Counter(tags.loc[~tags.is_generic, "keyword"]).most_common(50)
    assert [key for key, _ in top if _REACH_LOOK.search(key)] == []
    generic = Counter(tags.loc[tags.is_generic, "keyword"])
    assert {"fyp", "xuhuong", "viral", "xh", "xuhuongtiktok", "trending", "foryou"} <= set(generic)
    # The structured list holds 12 spellings of elongated xh/fyp; they merge.
    assert not [key for key in generic if re.fullmatch(r"(?:xh|fyp)\w*", key) and re.search(r"(\w)\1", key)]
