"""问题研判: the category classifier over an event's Chinese text, and text similarity for duplicates.

The classifier is trained on the city's own labelled events (``yiwang cityops train``): jieba words
plus character bigrams, TF-IDF, and a multinomial logistic regression whose probability for the
best category is the *confidence* the dispatcher threshold is compared with (docs/adr/0011).

scikit-learn fits the model and is used nowhere else; the fitted model is kept as plain numpy
arrays (vocabulary, idf, coefficients, intercepts), so a prediction is one sparse dot product and
the model file is JSON — loading a model can never run code, unlike a pickle.

jieba stays behind this module and ``yiwang.catalog.search`` (import contracts). It shares the
process's default jieba dictionary with the catalogue search, which teaches it the catalogue's
names; the character bigrams make the features insensitive to such segmentation differences.

Errors are ``ValueError`` subclasses (:class:`TriageError`) with a stable ``code``, an English
``message`` that is the gettext msgid and its ``params``: this module knows no request or locale;
the cityops service turns them into ``AppError`` for people.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

FORMAT = "yiwang.cityops.triage"
VERSION = 1
MIN_CATEGORIES = 2
MIN_SAMPLES_PER_CATEGORY = 3
MIN_SAMPLES = 10
# A held-out accuracy estimate needs enough events to spare some: below this, ``accuracy`` is None.
HOLDOUT_MIN_SAMPLES = 30
HOLDOUT_SHARE = 0.2
MAX_FEATURES = 20_000
REGULARISATION_C = 10.0
RANDOM_STATE = 0
# Coefficients are rounded when fitted, so the JSON stays small and a round trip is exact.
DECIMALS = 6
MAX_MODEL_BYTES = 64 * 1024 * 1024
# Only the start of a very long text is read: a report's point is made early, and cost stays bounded.
MAX_TEXT_CHARS = 2_000
# Suggested defaults for the service (docs/adr/0011): below CONFIDENCE_THRESHOLD a dispatcher
# decides the category; at or above SIMILARITY_THRESHOLD two nearby reports count as the same text.
CONFIDENCE_THRESHOLD = 0.6
SIMILARITY_THRESHOLD = 0.3

_STOP_WORDS = (
    "的 地 得 了 着 过 是 在 有 和 与 及 或 也 都 就 还 又 很 太 更 最 非常 已经 一直 一个 一些 个 这 那 这个 那个 "
    "这些 那些 这里 那里 这边 那边 我 你 您 他 她 它 我们 你们 他们 大家 有人 请 请问 麻烦 谢谢 希望 能 能否 "
    "可以 吗 呢 吧 啊 呀 哦 嗯 啦 把 被 给 让 对 从 向 到 于 为 之 其 而 但 但是 并 并且 所以 因为 如果 "
    "一下 总是 经常 现在 今天 昨天 目前"
)
STOP_WORDS = frozenset(_STOP_WORDS.split())
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{2,}")
_BIGRAM = "~"  # prefix of character-bigram features; jieba never yields a token starting with it

log = logging.getLogger("yiwang.cityops")


class TriageError(ValueError):
    """Refused training data or model bytes. ``message`` is the msgid, ``params`` fill it."""

    code: ClassVar[str] = "triage_error"
    message: ClassVar[str] = "The classifier cannot do this."

    def __init__(self, **params: Any) -> None:
        self.params = params
        super().__init__(self.message.format(**params))


class TooFewCategories(TriageError):
    code = "triage_too_few_categories"
    message = ("Training needs at least {minimum} categories with {per_category} or more labelled events "
               "each; found {found}.")


class TooFewSamples(TriageError):
    code = "triage_too_few_samples"
    message = "Training needs at least {minimum} labelled events with words in them; found {found}."


class InvalidSample(TriageError):
    code = "triage_invalid_sample"
    message = "Labelled event {index} has no category code."


class InvalidModel(TriageError):
    code = "triage_invalid_model"
    message = "The classifier model cannot be read: {reason}."


class UntrainedClassifier(TriageError):
    code = "triage_untrained"
    message = "The classifier has not been trained yet."


# --- words ------------------------------------------------------------------------------------

_jieba_lock = threading.Lock()
_jieba: Any = None


def _tokenizer() -> Any:
    """jieba, imported and its dictionary loaded once per process, on first use, without chatter."""
    global _jieba
    if _jieba is None:
        with _jieba_lock:
            if _jieba is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                _jieba = jieba
    return _jieba


def warm() -> None:
    """Load jieba and its dictionary now (a server worker's start-up), so no request waits for it."""
    _tokenizer()


def _normalise(text: str) -> str:
    # NFKC folds full-width letters, digits and punctuation (common in phone input) into ASCII.
    return unicodedata.normalize("NFKC", text[:MAX_TEXT_CHARS]).lower()


def _keep(word: str) -> bool:
    # Bare numbers are house numbers; a word with 5 digits or more is a phone, ID or plate number:
    # noise for the model, and personal data that must not end up in its vocabulary.
    return (bool(word) and word not in STOP_WORDS and not word.isdigit() and any(c.isalnum() for c in word)
            and sum(c.isdigit() for c in word) < 5)


def tokens(text: str) -> list[str]:
    """The jieba words of ``text``, lower-cased, without punctuation, numbers or stop words."""
    if not text or not text.strip():
        return []
    return [w for w in (t.strip() for t in _tokenizer().lcut(_normalise(text))) if _keep(w)]


def _features(words: list[str]) -> list[str]:
    """Words plus the character bigrams of the Chinese they spell (robust to segmentation)."""
    joined = "".join(words)
    grams = [_BIGRAM + run[i:i + 2] for run in _CJK_RUN.findall(joined) for i in range(len(run) - 1)]
    return words + grams


def features(text: str) -> list[str]:
    """A text's features: its jieba words and character bigrams (tokenised once, the classifier's
    :meth:`Classifier.predict_features` and :func:`similarity` both take them)."""
    return _features(tokens(text))


def feature_counts(text: str) -> Counter[str]:
    """The counts of a text's features (jieba words and character bigrams), for :func:`similarity`;
    shared, not to be changed. An open event's text is compared with every later report near it
    for a day, inside the writer's turn (the duplicate check): the last few thousand texts are
    tokenised once per process, not once per comparison."""
    return _counts_of(text)


@functools.lru_cache(maxsize=4096)
def _counts_of(text: str) -> Counter[str]:
    return Counter(features(text))


def text_similarity(a: str, b: str) -> float:
    """Cosine of the two texts' word counts (jieba words and character bigrams), 0..1."""
    return similarity(feature_counts(a), feature_counts(b))


def similarity(ca: Counter[str], cb: Counter[str]) -> float:
    """:func:`text_similarity` of two texts' :func:`feature_counts` (one text's counts made once
    serve many comparisons)."""
    if not ca or not cb:
        return 0.0
    dot = sum(n * cb[w] for w, n in ca.items() if w in cb)
    norm = math.sqrt(sum(n * n for n in ca.values())) * math.sqrt(sum(n * n for n in cb.values()))
    return max(0.0, min(1.0, dot / norm))


# --- the linear model -------------------------------------------------------------------------


@dataclass(frozen=True)
class Prediction:
    category: str
    confidence: float


@dataclass(frozen=True, eq=False)
class _Linear:
    """A fitted TF-IDF (sublinear tf, l2 norm) + multinomial logistic regression, as arrays."""

    vocabulary: tuple[str, ...]
    index: dict[str, int]
    idf: np.ndarray  # (features,)
    coef: np.ndarray  # (classes, features)
    intercept: np.ndarray  # (classes,)

    @classmethod
    def build(cls, vocabulary: list[str], idf: Any, coef: Any, intercept: Any) -> _Linear:
        return cls(tuple(vocabulary), {w: i for i, w in enumerate(vocabulary)},
                   np.asarray(idf, dtype=np.float64), np.asarray(coef, dtype=np.float64),
                   np.asarray(intercept, dtype=np.float64))

    def probabilities(self, features: list[str]) -> np.ndarray:
        counts = Counter(i for f in features if (i := self.index.get(f)) is not None)
        scores = self.intercept.copy()
        if counts:
            idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            weights = (1.0 + np.log(tf)) * self.idf[idx]
            weights /= np.linalg.norm(weights)
            scores += self.coef[:, idx] @ weights
        scores -= scores.max()
        exp = np.exp(scores)
        return exp / exp.sum()


def _fit(docs: list[list[str]], labels: list[str]) -> tuple[list[str], _Linear]:
    """Fit TF-IDF + logistic regression with scikit-learn; keep only the arrays."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, norm="l2", smooth_idf=True,
                                 min_df=2 if len(docs) >= 1000 else 1, max_features=MAX_FEATURES)
    x = vectorizer.fit_transform(docs)
    model = LogisticRegression(C=REGULARISATION_C, max_iter=2000, random_state=RANDOM_STATE)
    model.fit(x, labels)
    classes = [str(c) for c in model.classes_]
    coef, intercept = model.coef_, model.intercept_
    if len(classes) == 2:
        # Binary fits one score for the second class: p = sigmoid(z). Two rows ±z/2 under a
        # softmax give the same probability, so prediction has one form for every model.
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    vocabulary = [str(w) for w in vectorizer.get_feature_names_out()]
    return classes, _Linear.build(vocabulary, np.round(vectorizer.idf_, DECIMALS), np.round(coef, DECIMALS),
                                  np.round(intercept, DECIMALS))


def _identity(doc: list[str]) -> list[str]:
    return doc


def _holdout_accuracy(docs: list[list[str]], labels: list[str], per_category: Counter[str]) -> float | None:
    if len(docs) < HOLDOUT_MIN_SAMPLES or min(per_category.values()) < 2:
        return None
    from sklearn.model_selection import train_test_split

    test_size = max(len(per_category), round(len(docs) * HOLDOUT_SHARE))
    if len(docs) - test_size < len(per_category):
        return None
    train_docs, test_docs, train_labels, test_labels = train_test_split(
        docs, labels, test_size=test_size, stratify=labels, random_state=RANDOM_STATE)
    classes, linear = _fit(train_docs, train_labels)
    hits = sum(classes[int(np.argmax(linear.probabilities(d)))] == label
               for d, label in zip(test_docs, test_labels, strict=True))
    return round(hits / len(test_docs), 4)


class Classifier:
    """Category of an event from its text. ``Classifier()`` is untrained and predicts nothing."""

    def __init__(self, categories: Iterable[str] = (), linear: _Linear | None = None, *, samples: int = 0,
                 accuracy: float | None = None, left_out: Iterable[str] = ()) -> None:
        self.categories: tuple[str, ...] = tuple(categories)
        self.samples = samples
        self.accuracy = accuracy
        # Categories seen in the training data with too few events to learn; never predicted.
        self.left_out: tuple[str, ...] = tuple(left_out)
        self._linear = linear

    @classmethod
    def train(cls, samples: Iterable[tuple[str, str]]) -> Classifier:
        """Fit on (text, category code) pairs; refuses fewer than 2 categories or too few events.

        Events whose text has no words (only punctuation or stop words) are not counted. A category
        with fewer than ``MIN_SAMPLES_PER_CATEGORY`` events cannot be learnt: it is left out (listed
        in ``left_out``) and the classifier never predicts it, so such events go to a dispatcher.
        """
        docs: list[list[str]] = []
        labels: list[str] = []
        for n, (text, category) in enumerate(samples, start=1):
            code = (category or "").strip() if isinstance(category, str) else ""
            if not code:
                raise InvalidSample(index=n)
            words = tokens(text or "")
            if words:
                docs.append(_features(words))
                labels.append(code)
        per_category = Counter(labels)
        left_out = tuple(sorted(c for c, k in per_category.items() if k < MIN_SAMPLES_PER_CATEGORY))
        if left_out:
            kept = [i for i, label in enumerate(labels) if label not in left_out]
            docs, labels = [docs[i] for i in kept], [labels[i] for i in kept]
            per_category = Counter(labels)
        if len(per_category) < MIN_CATEGORIES:
            raise TooFewCategories(minimum=MIN_CATEGORIES, per_category=MIN_SAMPLES_PER_CATEGORY,
                                   found=len(per_category))
        if len(docs) < MIN_SAMPLES:
            raise TooFewSamples(minimum=MIN_SAMPLES, found=len(docs))
        accuracy = _holdout_accuracy(docs, labels, per_category)
        classes, linear = _fit(docs, labels)
        log.info("triage classifier trained", extra={"samples": len(docs), "categories": len(classes),
                                                     "left_out": len(left_out), "features": len(linear.vocabulary),
                                                     "accuracy": accuracy})
        return cls(classes, linear, samples=len(docs), accuracy=accuracy, left_out=left_out)

    @property
    def trained(self) -> bool:
        return self._linear is not None

    def predict(self, text: str) -> Prediction | None:
        """The likeliest category and its probability; None when untrained or the text has no words."""
        if self._linear is None or not text:
            return None
        return self.predict_features(features(text))

    def predict_features(self, feats: list[str]) -> Prediction | None:
        """:meth:`predict` of a text's :func:`features`; None when untrained or there are none."""
        if self._linear is None or not feats:
            return None
        probabilities = self._linear.probabilities(feats)
        best = int(np.argmax(probabilities))
        return Prediction(self.categories[best], float(probabilities[best]))

    # --- serialisation: JSON, never pickle ----------------------------------------------------

    def to_bytes(self) -> bytes:
        """The model as UTF-8 JSON: vocabulary, idf, coefficients, intercepts, classes, metadata."""
        if self._linear is None:
            raise UntrainedClassifier()
        lin = self._linear
        doc = {
            "format": FORMAT,
            "version": VERSION,
            "categories": list(self.categories),
            "samples": self.samples,
            "accuracy": self.accuracy,
            "left_out": list(self.left_out),
            "vocabulary": list(lin.vocabulary),
            "idf": lin.idf.tolist(),
            "coef": lin.coef.tolist(),
            "intercept": lin.intercept.tolist(),
        }
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> Classifier:
        """A model written by :meth:`to_bytes`; anything else is refused with :class:`InvalidModel`."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidModel(reason="not bytes")
        if len(data) > MAX_MODEL_BYTES:
            raise InvalidModel(reason=f"larger than {MAX_MODEL_BYTES} bytes")
        try:
            doc = json.loads(bytes(data).decode("utf-8"), parse_constant=_refuse_constant)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise InvalidModel(reason="not JSON") from exc
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise InvalidModel(reason="not a triage classifier")
        if doc.get("version") != VERSION:
            raise InvalidModel(reason=f"version {doc.get('version')!r} is not supported")
        categories = _strings(doc.get("categories"), "categories")
        if len(categories) < MIN_CATEGORIES:
            raise InvalidModel(reason="fewer than two categories")
        vocabulary = _strings(doc.get("vocabulary"), "vocabulary")
        samples = doc.get("samples")
        if not isinstance(samples, int) or isinstance(samples, bool) or samples < 0:
            raise InvalidModel(reason="samples is not a count")
        accuracy = doc.get("accuracy")
        if accuracy is not None and (not _is_number(accuracy) or not 0 <= accuracy <= 1):
            raise InvalidModel(reason="accuracy is not between 0 and 1")
        left_out = _strings(doc.get("left_out", []), "left_out")
        k, v = len(categories), len(vocabulary)
        idf = _array(doc.get("idf"), (v,), "idf")
        coef = _array(doc.get("coef"), (k, v), "coef")
        intercept = _array(doc.get("intercept"), (k,), "intercept")
        if (idf <= 0).any():
            raise InvalidModel(reason="idf has values that are not positive")
        return cls(categories, _Linear.build(vocabulary, idf, coef, intercept), samples=samples,
                   accuracy=None if accuracy is None else float(accuracy), left_out=left_out)

    def __repr__(self) -> str:
        return f"Classifier(categories={len(self.categories)}, samples={self.samples}, accuracy={self.accuracy})"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _strings(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(s, str) and s for s in value):
        raise InvalidModel(reason=f"{name} is not a list of names")
    if len(set(value)) != len(value):
        raise InvalidModel(reason=f"{name} has duplicates")
    return value


def _array(value: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    rows = value if len(shape) == 2 else [value]
    if not isinstance(rows, list) or len(rows) != (shape[0] if len(shape) == 2 else 1):
        raise InvalidModel(reason=f"{name} does not have the shape {shape}")
    for row in rows:
        if not isinstance(row, list) or len(row) != shape[-1] or not all(_is_number(x) for x in row):
            raise InvalidModel(reason=f"{name} does not have the shape {shape}")
    out = np.asarray(value, dtype=np.float64)
    if not np.isfinite(out).all():
        raise InvalidModel(reason=f"{name} has values that are not finite")
    return out
