"""Write ``src/tiktrend/extract/data/common_words.txt``: the most frequent words of each language (wordfreq).

python scripts/build_common_words.py  (needs ``pip install wordfreq``; the package itself never imports it)

A caption word this frequent in its language (Zipf frequency >= ``MIN_ZIPF``: about once per 18,000 words of
ordinary text) is rarely what a video is about ("today", "love", "schnell", "mejor"), so the extractor does not
make a keyword of it on its own (``phrases.common_words``). The list is a file rather than a dependency:
wordfreq's tables would cost every extracting process about 290 MB of memory for a yes/no answer.
Languages whose words wordfreq cannot split without extra tokenizers (Japanese, Korean, Chinese, Thai) and
Vietnamese (cut by its part-of-speech tagger instead) are left out.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import wordfreq

from tiktrend.extract.text import normalize

MIN_ZIPF = 4.75
SKIPPED = {"ja", "ko", "zh", "th", "vi"}
TARGET = Path(__file__).resolve().parents[1] / "src" / "tiktrend" / "extract" / "data" / "common_words.txt"
HEADER = f"""# The words of Zipf frequency >= {MIN_ZIPF} per language, one "language<TAB>word" per line.
# Made by scripts/build_common_words.py from wordfreq {version("wordfreq")} (Robyn Speer et al.,
# https://github.com/rspeer/wordfreq), whose word lists are licensed CC BY-SA 4.0; so is this derived file.
"""


def frequent(lang: str) -> list[str]:
    words = set()
    for word in wordfreq.iter_wordlist(lang):  # most frequent first
        if wordfreq.zipf_frequency(word, lang) < MIN_ZIPF:
            break
        key = normalize(word).lower()
        if key.isalpha():  # words only: no digits, spaces or apostrophes (word_keyword drops those)
            words.add(key)
    return sorted(words)


def main() -> None:
    lines = [HEADER.rstrip("\n")]
    for lang in sorted(set(wordfreq.available_languages()) - SKIPPED):
        lines += [f"{lang}\t{word}" for word in frequent(lang)]
    TARGET.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(lines) - 1} words written to {TARGET}")


if __name__ == "__main__":
    main()
