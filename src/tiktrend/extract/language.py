"""Offline language detection of caption text: py3langid's bundled naive Bayes model, no download.

Captions are short and noisy, so detection is restricted to the languages of the data and of the stop word
lists (a 140-language model on ten words picks rare neighbours: Afrikaans for Dutch, Galician for Spanish),
and a result under ``MIN_CONFIDENCE`` is "und" (undetermined): extraction then removes the stop words of
every supported language, as it did before language detection existed.

Vietnamese is recognised first by its letters (ơ, ư, ă, đ and the stacked tone marks): one such letter is
proof enough, and it is most of the VN data, at the cost of a set lookup instead of a model run.

Speed. py3langid walks each text's bytes through its n-gram automaton in a Python loop (about 20 µs a
caption). :func:`detect_languages` walks a whole chunk's texts together, one numpy step per byte position, and
scores them with one gather (identical languages to py3langid's ``classify`` on the shared data; confidences
within 1e-5). Extraction detects a chunk's caption languages that way before extracting each video.
"""

from __future__ import annotations

import re
import unicodedata
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice

import numpy as np

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

# Below this many texts still walking, the rest of the walk is done text by text: a numpy step costs the same
# for one text as for a thousand.
_MIN_VECTOR_TEXTS = 16
_SLICE_TEXTS = 2048


@dataclass(frozen=True)
class _Model:
    """py3langid's model as arrays: the byte n-gram automaton, and naive Bayes log-probabilities per class."""

    nextmove: np.ndarray  # state transitions (uint32), indexed by rowbase[state] + byte
    rowbase: np.ndarray
    output: np.ndarray  # the feature a state emits, -1 for none
    table: np.ndarray  # (features, classes) float16, as stored (4.4 MB)
    prior: np.ndarray  # (classes,) float32
    classes: tuple[str, ...]
    # The same automaton as Python sequences, for the text-by-text walk (numpy scalars are slow one at a time).
    nextmove_seq: Sequence[int]
    rowbase_seq: Sequence[int]
    output_seq: Sequence[int]


_loaded: _Model | None = None


def _model() -> _Model:
    """py3langid's bundled model, loaded once per process (about 0.3 s) and restricted to CANDIDATES."""
    global _loaded
    if _loaded is None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier  # type: ignore[import-untyped]

        identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        identifier.set_languages(list(CANDIDATES))
        _loaded = _Model(
            # A view of py3langid's array (39 MB), not a copy.
            nextmove=np.frombuffer(identifier.tk_nextmove, dtype=np.uint32),
            rowbase=np.asarray(identifier._rowbase, dtype=np.intp),
            output=np.asarray(identifier.tk_output, dtype=np.intp),
            table=identifier.nb_ptc,
            prior=np.asarray(identifier.nb_pc, dtype=np.float32),
            classes=tuple(str(name) for name in identifier.nb_classes),
            nextmove_seq=identifier.tk_nextmove,
            # Compact arrays rather than lists of 100,000 int objects (about 6 MB less per process).
            rowbase_seq=array("q", identifier._rowbase),
            output_seq=array("q", identifier.tk_output),
        )
    return _loaded


@lru_cache(maxsize=1 << 14)
def detect_language(text: str) -> tuple[str, float]:
    """``(ISO 639-1 code, confidence)`` of a text, ``("und", p)`` when too short or unsure."""
    return detect_languages([text])[0]


def detect_languages(texts: Sequence[str]) -> list[tuple[str, float]]:
    """:func:`detect_language` of many texts at once: each numpy step moves every text one byte on.

    The answer for a text does not depend on the others in the batch (each text's features are counted and
    summed on their own), so a text gets the same language alone, in a pandas chunk or in a Spark partition.
    """
    found: list[tuple[str, float]] = [(UNDETERMINED, 0.0)] * len(texts)
    asked: list[int] = []
    for i, text in enumerate(texts):
        if _VIETNAMESE.search(text):
            found[i] = ("vi", 1.0)
        elif _letters_at_least(text, 4):
            asked.append(i)
    # Slices bound the walk's arrays (a few MB for a slice's bytes, features and scores) whatever the batch's size.
    for first in range(0, len(asked), _SLICE_TEXTS):
        part = asked[first : first + _SLICE_TEXTS]
        # Title Case and ALL CAPS captions read as other languages to the model; lower case does not.
        encoded = [_encode(texts[i][:MAX_CHARS].lower()) for i in part]
        for i, answer in zip(part, _classify(_model(), encoded), strict=True):
            found[i] = answer
    return found


def _letters_at_least(text: str, count: int) -> bool:
    """Whether the first MAX_CHARS characters hold ``count`` letters (stops looking once they do)."""
    return len(list(islice(_LETTER.finditer(text, 0, MAX_CHARS), count))) >= count


def _encode(text: str) -> bytes:
    """The bytes the model reads: NFC, UTF-8 (what py3langid does with a lower-case text)."""
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return text.encode("utf8", errors="surrogatepass")


def _classify(model: _Model, encoded: list[bytes]) -> list[tuple[str, float]]:
    """Language and confidence of each encoded text: naive Bayes over its byte n-gram counts, softmax scaled."""
    rows, features = _features(model, encoded)
    width = len(model.table)
    keys, counts = np.unique(rows * width + features, return_counts=True)
    rows, features = keys // width, keys % width
    # Only the gathered rows become float32 (which holds every float16 exactly): the sums are float32 sums.
    contributions = np.log1p(counts.astype(np.float32))[:, None] * model.table[features].astype(np.float32)
    scores = np.zeros((len(encoded), len(model.classes)), dtype=np.float32)
    if len(keys):
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        scores[rows[starts]] = np.add.reduceat(contributions, starts, axis=0) + model.prior
    # A text without any known n-gram keeps zero scores: a uniform answer, under MIN_CONFIDENCE.
    lengths = np.fromiter(map(len, encoded), dtype=np.float32, count=len(encoded))
    scores *= (1.0 / np.sqrt(np.maximum(lengths, 1.0)))[:, None]
    scores = np.exp(scores - scores.max(axis=1, keepdims=True))
    scores /= scores.sum(axis=1, keepdims=True)
    best = scores.argmax(axis=1)
    confidence = scores[np.arange(len(encoded)), best]
    return [
        (model.classes[b] if c >= MIN_CONFIDENCE else UNDETERMINED, float(c))
        for b, c in zip(best.tolist(), confidence.tolist(), strict=True)
    ]


def _features(model: _Model, encoded: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """``(text index, feature)`` of every feature the automaton emits walking each text (repeats included)."""
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
    lengths = np.array([len(encoded[i]) for i in order], dtype=np.intp)
    width = int(lengths[0]) if len(lengths) else 0
    # Texts still walking at each step: lengths are sorted, so they are the first ``active[step]`` texts.
    active = np.searchsorted(-lengths, -np.arange(width), side="left")
    steps = int(np.searchsorted(-active, -_MIN_VECTOR_TEXTS, side="right"))  # steps with enough texts walking
    # Byte ``step`` of every text in row ``step`` (contiguous per step), for the steps walked together.
    grid = np.zeros((steps, len(order)), dtype=np.uint8)
    clipped = np.minimum(lengths, steps)
    flat = np.frombuffer(b"".join(encoded[i][:steps] for i in order), dtype=np.uint8)
    columns = np.repeat(np.arange(len(order)), clipped)
    grid[np.arange(len(flat)) - np.repeat(np.cumsum(clipped) - clipped, clipped), columns] = flat
    state = np.zeros(len(order), dtype=np.intp)
    emitted = np.full((steps, len(order)), -1, dtype=np.int32)  # features number about 100,000
    for step in range(steps):
        walking = int(active[step])
        moved = model.nextmove[model.rowbase[state[:walking]] + grid[step, :walking]]
        state[:walking] = moved
        emitted[step, :walking] = model.output[moved]
    at_step, rows = np.nonzero(emitted >= 0)
    found_rows, found_features = [rows], [emitted[at_step, rows]]
    # The few long texts left: walked one by one from where the batch left them.
    for row in range(int(active[steps]) if steps < width else 0):
        tail = _walk(model, int(state[row]), encoded[order[row]][steps:])
        found_rows.append(np.full(len(tail), row, dtype=np.intp))
        found_features.append(np.array(tail, dtype=np.intp))
    index = np.array(order, dtype=np.intp)
    return index[np.concatenate(found_rows)], np.concatenate(found_features)


def _walk(model: _Model, state: int, data: bytes) -> list[int]:
    """The features emitted walking ``data`` from ``state`` (py3langid's loop)."""
    nextmove, rowbase, output = model.nextmove_seq, model.rowbase_seq, model.output_seq
    found: list[int] = []
    for byte in data:
        state = nextmove[rowbase[state] + byte]
        feature = output[state]
        if feature >= 0:
            found.append(feature)
    return found
