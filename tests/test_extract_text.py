"""Text quality: language detection, hashtag segmentation, keyphrases, emoji, variants of one phrase."""

from __future__ import annotations

import pytest

from tiktrend.extract.emojis import emoji_keys
from tiktrend.extract.keywords import video_mentions
from tiktrend.extract.language import detect_language
from tiktrend.extract.phrases import common_words, is_collocation, keyphrases
from tiktrend.extract.segment import fold_accents, segment
from tiktrend.extract.vietnamese import tag_syllables


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("I can't believe how good this recipe turned out", "en"),
        ("Ich hab so einen Ohrwurm von dem Song", "de"),
        ("Je suis trop contente de ce résultat", "fr"),
        ("veo a muchos cogiendo carrerilla y tirándose encima", "es"),
        ("ik hou echt van dit liedje", "nl"),
        ("questo è il mio preferito di sempre", "it"),
        ("mê quá trời luôn", "vi"),
        ("khong duoc roi nguoi ta nhu the", "vi"),
        ("🔥🔥", "und"),
        ("ok", "und"),
    ],
)
def test_language_detection_offline(text: str, lang: str) -> None:
    assert detect_language(text)[0] == lang


def test_stop_words_follow_the_detected_language() -> None:
    # "son" is "his" in French: a stop word there, the noun in English.
    assert [m[0] for m in video_mentions("c'est son caniche préféré", [], "", "", False)] == ["caniche", "préféré"]
    # (Alone, "son" is too frequent an English word to be a caption keyword; a tag of the video spelling it is not.)
    mentions = video_mentions("my son loves his corgi", ["son"], "", "", False)
    assert [m[0] for m in mentions if m[2] == "caption"] == ["son", "loves", "corgi"]


@pytest.mark.parametrize(
    ("tag", "words"),
    [
        ("nightroutine", ("night", "routine")),
        ("#NightRoutine", ("night", "routine")),
        ("taylorswift", ("taylor", "swift")),
        ("coffeelover", ("coffee", "lover")),
        ("learnontiktok", ("learn", "on", "tiktok")),
        ("dulichdalat", ("du", "lich", "da", "lat")),
        ("ẩmthực", ("ẩm", "thực")),
        ("booktok", ("booktok",)),
        ("halloween", ("halloween",)),
        ("embreighcourtlyn", ("embreighcourtlyn",)),  # an unknown name stays whole
    ],
)
def test_hashtag_segmentation(tag: str, words: tuple[str, ...]) -> None:
    assert segment(tag) == words


def test_fold_accents_keeps_length() -> None:
    assert fold_accents("Đà Lạt ẩm thực") == "Da Lat am thuc"


def test_hashtag_and_caption_phrase_share_a_key() -> None:
    mentions = video_mentions("my night routine before bed", ["NightRoutine"], "", "", False)
    keys = {(key, modality) for key, _, modality, _, _ in mentions}
    assert ("nightroutine", "hashtag") in keys
    assert ("nightroutine", "caption") in keys
    display = {key: shown for key, shown, modality, _, _ in mentions if modality == "caption"}
    assert display["nightroutine"] == "night routine"


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("i ate ice cream in new york", "en", ["ate", "icecream", "newyork"]),
        # "told" and "come" are among the most frequent English words: not keywords alone.
        ("Marlon told Taylor Swift to come closer", "en", ["marlon", "taylorswift", "closer"]),
        # Title Case says nothing about names: words stay apart.
        ("Best Hike Ever With My Corgi", "en", ["hike", "corgi"]),
        # Vietnamese: the tagger's nouns, one word each (vui vẻ, "happy", is an adjective).
        ("Sinh nhật vui vẻ, bánh mì Sài Gòn", "vi", ["sinhnhật", "bánhmì", "sàigòn"]),
        ("Hôm nay đi học với người yêu ở Đà Lạt", "vi", ["hômnay", "ngườiyêu", "đàlạt"]),
    ],
)
def test_keyphrases(text: str, lang: str, expected: list[str]) -> None:
    assert [phrase.key for phrase in keyphrases(text, lang)] == expected


def test_frequent_words_alone_are_not_caption_keywords() -> None:
    def caption_keys(caption: str, tags: list[str]) -> list[str]:
        return [m[0] for m in video_mentions(caption, tags, "", "", False) if m[2] == "caption"]

    # "love", "song" and "today" are among the ~1,800 most frequent English words (common_words.txt).
    assert caption_keys("I love this song today", []) == []
    # Still keywords: spelled by a tag of the video, a name inside a sentence, or inside a phrase.
    assert caption_keys("I love this song today", ["love"]) == ["love"]
    assert caption_keys("Siempre @Juan Pérez con @Lena & Jule en Madrid", []) == ["madrid"]
    assert [phrase.key for phrase in keyphrases("we love New York and ice cream", "en")] == ["newyork", "icecream"]
    # Vietnamese is cut by its tagger instead; an undetermined language has no list.
    assert common_words("en") and "love" in common_words("en")
    assert not common_words("vi") and not common_words("und")


def test_vietnamese_falls_back_to_the_word_list_when_the_tagger_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    import pyvi

    def broken(text: str) -> str:
        raise RuntimeError("model file unreadable")

    monkeypatch.setattr(pyvi.ViTokenizer.ViTokenizer, "tokenize", broken)
    assert tag_syllables("bánh mì Sài Gòn") is None
    # The syllable pairs of words_vi.txt, as before the tagger: adjectives stay.
    assert [p.key for p in keyphrases("Sinh nhật vui vẻ, bánh mì Sài Gòn", "vi")] == [
        "sinhnhật",
        "vuivẻ",
        "bánhmì",
        "sàigòn",
    ]


def test_keyphrase_weights_are_in_unit_interval_and_favour_early_words() -> None:
    phrases = keyphrases("Kitten sleeps. The dog barks at night. Rain again tomorrow maybe", "en")
    assert all(0 < phrase.weight <= 1 for phrase in phrases)
    assert phrases[0].weight > phrases[-1].weight


def test_collocations() -> None:
    assert is_collocation("ice", "cream")
    assert is_collocation("vending", "machine")
    assert not is_collocation("cute", "dog")


def test_emoji_are_their_own_modality() -> None:
    assert emoji_keys("so good 👍🏽👍 ❤️ ❤ 🇻🇳 👩‍🍳") == ("👍", "❤", "🇻🇳", "👩\u200d🍳")
    mentions = video_mentions("yummy 🍓🍓", [], "", "", False)
    assert [(key, modality) for key, _, modality, _, _ in mentions] == [("yummy", "caption"), ("🍓", "emoji")]


def test_mentions_urls_and_numbers_cut_phrases() -> None:
    mentions = video_mentions("funky remix @maria out 2025 https://x.co/a now streaming", [], "", "", False)
    assert [key for key, _, modality, _, _ in mentions if modality == "caption"] == ["funky", "remix", "streaming"]


@pytest.mark.parametrize(
    "caption",
    [
        "Recipe link in bio",
        "Subscribe to our YouTube Channel! Recipe",
        "Anzeige | Recipe",
        "Teil 2 Recipe",
        "Recipe - TOUT DROIT RÉSERVÉ À",
        "Replying to @mrbeast Recipe",
    ],
)
def test_caption_boilerplate_is_not_a_keyword(caption: str) -> None:
    assert [m[0] for m in video_mentions(caption, [], "", "", False) if m[2] == "caption"] == ["recipe"]


@pytest.mark.parametrize("laugh", ["hahaha", "HHAAHAH", "jajajajajajaa", "wkwkwk", "hihihi"])
def test_laughter_with_doubled_letters_is_not_a_keyword(laugh: str) -> None:
    assert video_mentions(f"{laugh} dog", [], "", "", False)[0][0] == "dog"


def test_mention_display_names_are_not_caption_words() -> None:
    mentions = video_mentions("Siempre @Juan Pérez con @Lena & Jule en Madrid", [], "", "", False)
    assert [m[0] for m in mentions if m[2] == "caption"] == ["madrid"]
