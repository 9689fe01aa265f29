"""Search terms of a question or a statement, in English and Chinese.

English: words, case-folded, stop words dropped, Snowball-stemmed (PyStemmer), and the
everyday words people use for a topic mapped onto the words the monographs
use (``lexicon.yaml``: "shot" -> infusion, "breastfeed" -> breast-feeding).
Chinese: Traditional characters folded to Simplified (OpenCC), words from
jieba, and character bigrams, so a word jieba splits differently still
matches.

Everything heavy loads on first use and is kept: the OpenCC converter, the
Snowball stemmer, the lexicon and the jieba tokenizer. jieba's own
dictionary is large (a second or more to load); rxguard gives jieba a small
dictionary instead, made once from the words of jieba's dictionary that
occur in the packs' Chinese text plus the lexicon's words, and cached in the
user's cache folder (``RXGUARD_CACHE_DIR`` or ``~/.cache/rxguard``), so a
question costs milliseconds.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import sys
import unicodedata
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_HAN_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_EN_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_LEXICON = Path(__file__).with_name("lexicon.yaml")
#: Longest word taken from jieba's dictionary into the small one.
_MAX_WORD = 8


def has_han(text: str) -> bool:
    return bool(_HAN.search(text))


# --------------------------------------------------------------------------- lexicon


@functools.cache
def lexicon() -> dict[str, Any]:
    """``lexicon.yaml``: stop words and everyday-word mappings for both languages."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data: dict[str, Any] = yaml.load(_LEXICON.read_text("utf-8"), Loader=loader)
    return data


@functools.cache
def _en_stop() -> frozenset[str]:
    return frozenset(lexicon()["en"]["stop"])


@functools.cache
def _en_synonyms() -> dict[str, tuple[str, ...]]:
    """stem of an everyday word -> stems of the words the monographs use for it."""
    out: dict[str, tuple[str, ...]] = {}
    for key, values in lexicon()["en"]["synonyms"].items():
        stems = tuple(stem(w) for value in values for w in _EN_WORD.findall(value.lower()))
        out[stem(key.lower())] = stems
    return out


@functools.cache
def _zh_synonyms() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """everyday Chinese phrase -> words the monographs use (longest phrase first)."""
    pairs = [(k, tuple(v)) for k, v in lexicon()["zh"]["synonyms"].items()]
    return tuple(sorted(pairs, key=lambda p: -len(p[0])))


def synonym_stems(word: str) -> tuple[str, ...]:
    """Stems of the monographs' words the lexicon maps an everyday English word onto."""
    return _en_synonyms().get(stem(word.casefold()), ())


# --------------------------------------------------------------------------- English


@functools.cache
def _stemmer() -> Any:
    import Stemmer  # PyStemmer: the Snowball algorithms in C

    return Stemmer.Stemmer("english")


@functools.lru_cache(maxsize=16384)
def stem(word: str) -> str:
    result: str = _stemmer().stemWord(word)
    return result


def english_terms(text: str, *, expand: bool = True) -> list[str]:
    """Stemmed content words of English text, with the lexicon's synonyms when ``expand``."""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("²", "2")
    stop = _en_stop()
    synonyms = _en_synonyms() if expand else {}
    out: list[str] = []
    for word in _EN_WORD.findall(folded):
        parts = [word, *word.split("-")] if "-" in word else [word]
        for part in parts:
            if part in stop or not part:
                continue
            s = stem(part)
            out.append(s)
            out.extend(synonyms.get(s, ()))
    return out


class Vocabulary:
    """The English words of a corpus, for reading a question's words that the corpus does not use.

    A word of four letters or more that begins corpus words is read as them ("chemo" ->
    chemotherapy, "tired" -> tiredness), one of six or more that ends them as them too
    ("steroids" -> corticosteroids); a word of five letters or more within a small edit of one
    corpus word (rapidfuzz ``ratio`` at least :data:`SPELLING_SCORE`, same first letter) is read as
    that word ("pregant" -> pregnant, "immunosupressants"). A word the corpus uses, a stop word or
    a word the lexicon maps is left as it is.
    """

    #: Least rapidfuzz ratio (0-100) for a word to be read as a corpus word it is a misspelling of.
    SPELLING_SCORE = 86.0
    #: Most corpus words a prefix is read as.
    MAX_COMPLETIONS = 3

    def __init__(self, texts: Iterable[str]) -> None:
        words = {w for t in texts for w in _EN_WORD.findall(unicodedata.normalize("NFKC", t).casefold())}
        words |= {p for w in list(words) if "-" in w for p in w.split("-")}
        self.words: tuple[str, ...] = tuple(sorted(w for w in words if w.isalpha() and len(w) >= 3))
        self.stems: frozenset[str] = frozenset(stem(w) for w in self.words)
        self._known = frozenset(self.words)

    def uses(self, word: str) -> bool:
        """Whether the corpus uses the word, as written or stemmed."""
        return word in self._known or stem(word) in self.stems

    def is_unknown(self, word: str) -> bool:
        """Whether a word is neither the corpus' (as written or stemmed), a stop word nor one the lexicon maps."""
        return (
            word.isalpha()
            and word not in self._known
            and word not in _en_stop()
            and stem(word) not in self.stems
            and stem(word) not in _en_synonyms()
        )

    def correction(self, word: str) -> str | None:
        """The corpus word a misspelt word stands for, or None."""
        if len(word) < 5 or not self.is_unknown(word):
            return None
        from rapidfuzz import fuzz, process

        candidates = [w for w in self.words if w[0] == word[0] and abs(len(w) - len(word)) <= 2]
        best = process.extractOne(word, candidates, scorer=fuzz.ratio, score_cutoff=self.SPELLING_SCORE)
        return best[0] if best else None

    def completions(self, word: str) -> list[str]:
        if len(word) < 4 or not self.is_unknown(word):
            return []
        found = [w for w in self.words if w != word and (w.startswith(word) or (len(word) >= 6 and w.endswith(word)))]
        return sorted(found, key=len)[: self.MAX_COMPLETIONS]

    def repairs(self, text: str) -> list[str]:
        """Stems of the corpus words a text's unknown words stand for."""
        out: list[str] = []
        for word in _EN_WORD.findall(unicodedata.normalize("NFKC", text).casefold()):
            found = self.completions(word) or [c for c in [self.correction(word)] if c]
            out.extend(stem(w) for w in found)
        return out

    def corrected(self, text: str, keep: Iterable[str] = ()) -> str:
        """The text with each misspelt English word replaced by the corpus word it stands for
        (words inside ``keep``, such as the drug names found in it, are left alone)."""
        kept = {w for k in keep for w in _EN_WORD.findall(k.casefold())}

        def fix(match: re.Match[str]) -> str:
            word = match.group(0)
            if word.casefold() in kept:
                return word
            return self.correction(word.casefold()) or word

        return re.sub(r"[A-Za-z]{5,}", fix, text)


# --------------------------------------------------------------------------- Chinese


@functools.cache
def _converter() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional Chinese characters folded to Simplified; other text unchanged."""
    if not has_han(text):
        return text
    converted: str = _converter().convert(text)
    return converted


def cache_dir() -> Path:
    configured = os.environ.get("RXGUARD_CACHE_DIR")
    base = (
        Path(configured) if configured else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rxguard"
    )
    return base


#: Bump when the terms a text yields change, so cached corpus terms are rebuilt.
TERMS_VERSION = "1"


def cached_terms(key_text: str, build: Callable[[], list[list[str]]]) -> list[list[str]]:
    """Terms of a corpus, cached on disk by the digest of ``key_text`` (the corpus and the lexicon)."""
    import orjson

    digest = hashlib.sha256("\0".join([TERMS_VERSION, _LEXICON.read_text("utf-8"), key_text]).encode()).hexdigest()[:20]
    path = cache_dir() / f"terms-{digest}.json"
    try:
        cached: list[list[str]] = orjson.loads(path.read_bytes())
        return cached
    except (OSError, ValueError):
        pass
    built = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(orjson.dumps(built))
        tmp.replace(path)
    except OSError:  # a read-only cache folder: rebuild next time
        pass
    return built


def _import_jieba() -> Any:
    """jieba, imported without pkg_resources.

    jieba reads its data files through pkg_resources when it can import it, and through plain
    file paths otherwise; importing pkg_resources costs more than the rest of jieba (and newer
    setuptools warns that it is deprecated). Unless something already imported it, it is
    hidden for the duration of jieba's import only, so jieba takes its plain-file path.
    """
    if "jieba" in sys.modules:
        return sys.modules["jieba"]
    hidden = "pkg_resources" not in sys.modules
    if hidden:
        sys.modules["pkg_resources"] = None  # type: ignore[assignment]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import jieba
    finally:
        if hidden:
            del sys.modules["pkg_resources"]
    jieba.setLogLevel(60)
    return jieba


def _small_dictionary(corpus: str, extra: Iterable[str]) -> str:
    """Lines of jieba's dictionary whose word occurs in ``corpus``, plus ``extra`` words."""
    jieba = _import_jieba()
    pieces = {run[i : i + n] for run in _HAN_RUN.findall(corpus) for n in range(2, _MAX_WORD + 1)
              for i in range(len(run) - n + 1)}  # fmt: skip
    lines: list[str] = []
    seen: set[str] = set()
    with jieba.get_dict_file() as handle:
        for raw in handle:
            line = raw.decode("utf-8")
            word = line.split(" ", 1)[0]
            if word in pieces and word not in seen:
                seen.add(word)
                lines.append(line.rstrip("\n"))
    lines += [f"{word} 1000" for word in extra if word not in seen and has_han(word) and not re.search(r"\s", word)]
    return "\n".join(lines) + "\n"


class ChineseSegmenter:
    """jieba over a small dictionary made from a corpus (cached on disk by the corpus' digest)."""

    def __init__(self, corpus: str, extra: Iterable[str] = ()) -> None:
        self._corpus, self._extra = corpus, tuple(sorted(set(extra)))
        self._tokenizer: Any = None

    def _dictionary_path(self) -> Path:
        digest = hashlib.sha256((self._corpus + "\0" + "\n".join(self._extra)).encode()).hexdigest()[:16]
        path = cache_dir() / f"jieba-{digest}.txt"
        if not path.exists():
            text = _small_dictionary(self._corpus, self._extra)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(text, "utf-8")
                tmp.replace(path)
            except OSError:  # a read-only home: keep the dictionary in a temporary folder
                import tempfile

                path = Path(tempfile.gettempdir()) / path.name
                path.write_text(text, "utf-8")
        return path

    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            jieba = _import_jieba()
            path = self._dictionary_path()
            tokenizer = jieba.Tokenizer(dictionary=str(path))
            tokenizer.tmp_dir = str(path.parent)
            tokenizer.cache_file = f"{path.stem}.cache"
            tokenizer.initialize()
            self._tokenizer = tokenizer
        return self._tokenizer

    def words(self, text: str) -> list[str]:
        return [w for w in self.tokenizer().lcut_for_search(text) if has_han(w)]


def chinese_terms(text: str, segmenter: ChineseSegmenter | None, *, expand: bool = True) -> list[str]:
    """Words (jieba, when a segmenter is given) and character bigrams of the Chinese in ``text``."""
    simplified = to_simplified(unicodedata.normalize("NFKC", text))
    extra: list[str] = []
    if expand:
        for phrase, words in _zh_synonyms():
            if phrase in simplified:
                extra.extend(words)
    # an everyday Chinese word may stand for a Latin one (艾滋病 -> HIV)
    out: list[str] = english_terms(" ".join(e for e in extra if not has_han(e)), expand=False)
    for run in _HAN_RUN.findall(" ".join([simplified, *extra])):
        if segmenter is not None:
            out.extend(f"w:{w}" for w in segmenter.words(run) if len(w) >= 2)
        out.extend(run[i : i + 2] for i in range(len(run) - 1))
        if len(run) == 1:
            out.append(run)
    return out


def terms(text: str, segmenter: ChineseSegmenter | None, *, expand: bool = True) -> list[str]:
    """Every search term of mixed English/Chinese text."""
    out = english_terms(text, expand=expand)
    if has_han(text):
        out += chinese_terms(text, segmenter, expand=expand)
    return out
