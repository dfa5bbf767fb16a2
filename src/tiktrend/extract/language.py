"""Offline language detection of caption text: py3langid's bundled naive Bayes model, no download.

Captions are short and noisy, so detection is restricted to the languages of the data and of the stop word
lists (a 140-language model on ten words picks rare neighbours: Afrikaans for Dutch, Galician for Spanish),
and a result under ``MIN_CONFIDENCE`` is "und" (undetermined): extraction then removes the stop words of
every supported language, as it did before language detection existed.

Vietnamese is recognised first by its letters (ơ, ư, ă, đ and the stacked tone marks): one such letter is
proof enough, and it is most of the VN data, at the cost of a set lookup instead of a model run.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

# The stop word lists exist for these; detection may also answer with the others of CANDIDATES.
SUPPORTED = ("en", "vi", "de", "fr", "es", "nl", "it")
CANDIDATES = (*SUPPORTED, "pt", "id", "tl", "tr", "pl", "ro", "sv", "da", "no", "ru", "uk", "ar", "th", "ja", "ko")
UNDETERMINED = "und"
MIN_CONFIDENCE = 0.6
# Detection reads the beginning of a long text: a caption's language is settled in its first sentences.
MAX_CHARS = 240

# Letters only Vietnamese uses among the candidates (horn, breve, đ, stacked tone marks, dot below, hook
# above); plain â, ê, ô are French too.
_VIETNAMESE = re.compile(
    "[ăắằẳẵặấầẩẫậđếềểễệốồổỗộơớờởỡợưứừửữựạảẹẻẽịỉọỏụủỳỵỷỹĂẮẰẲẴẶẤẦẨẪẬĐẾỀỂỄỆỐỒỔỖỘƠỚỜỞỠỢƯỨỪỬỮỰẠẢẸẺẼỊỈỌỎỤỦỲỴỶỸ]"
)
_LETTER = re.compile(r"[^\W\d_]")

_identifier: Any = None


def _model() -> Any:
    """The py3langid identifier, loaded once per process (about 0.3 s) and restricted to CANDIDATES."""
    global _identifier
    if _identifier is None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier  # type: ignore[import-untyped]

        identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        identifier.set_languages(list(CANDIDATES))
        # The identifier keeps the whole 97-language model (~27 MB) only to allow another set_languages call,
        # which we never make: release it.
        if hasattr(identifier, "_full_model"):
            identifier._full_model = None
        _identifier = identifier
    return _identifier


@lru_cache(maxsize=1 << 14)
def detect_language(text: str) -> tuple[str, float]:
    """``(ISO 639-1 code, confidence)`` of a text, ``("und", p)`` when too short or unsure."""
    if _VIETNAMESE.search(text):
        return "vi", 1.0
    if len(_LETTER.findall(text[:MAX_CHARS])) < 4:
        return UNDETERMINED, 0.0
    # Title Case and ALL CAPS captions read as other languages to the model; lower case does not.
    lang, confidence = _model().classify(text[:MAX_CHARS].lower())
    if confidence < MIN_CONFIDENCE:
        return UNDETERMINED, float(confidence)
    return str(lang), float(confidence)
