"""BM25 tokenisation for mixed Chinese/English text.

Chinese goes through jieba, seeded with the glossary as a user dictionary, plus
character bigrams so that words jieba splits differently in the query and the
document still meet. English is lower-cased, stop-word filtered and Snowball-stemmed.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Iterable
from pathlib import Path

__all__ = ["BilingualTokenizer"]

_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[A-Za-z][A-Za-z'\-]*|\d+(?:\.\d+)?")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
# A private-use character: never in text jieba segments, it only carries the dictionary's total frequency.
_FILLER = "\ue000"

_EN_STOP = frozenset(
    """a an the and or but if of to in on at by for with about from into over under as is are was were be been being
    do does did doing have has had having i me my we our you your he she it its they them their this that these those
    what which who whom whose when where why how can could should would will shall may might must not no so than too
    very just also there here all any both each few more most other some such only own same s t don t ve ll re
    please tell know want get give keep make use way like does much many""".split()
)
_ZH_STOP = frozenset(
    "的 了 吗 呢 吧 啊 呀 么 是 在 和 与 及 或 也 就 都 而 又 还 要 会 能 可以 可 把 被 让 给 对 为 为什么 什么 怎么 怎样 如何 哪些 哪个 哪 多少 几 一下 一些 有 没有 我 你 他 她 它 我们 你们 他们 这 那 这个 那个 这些 那些 请问 请 问 一个 时候 应该 需要 比较 适合".split()
)


class BilingualTokenizer:
    """Callable `text -> tokens`, thread-safe, with jieba initialised lazily once."""

    def __init__(self, user_words: Iterable[str] = (), bigrams: bool = True, dictionary: Path | None = None) -> None:
        self._user_words = sorted(set(user_words))
        self._bigrams = bigrams
        self._dictionary = dictionary
        self._lock = threading.Lock()
        self._jieba = None
        # Titles and headings prefix every chunk of a document, so the same runs recur; segmenting is pure Python.
        self._zh = functools.lru_cache(maxsize=16384)(self._segment)
        import Stemmer  # PyStemmer: C Snowball stemmer

        self._stem = Stemmer.Stemmer("english").stemWord

    def _tokenizer(self):  # noqa: ANN202 - jieba.Tokenizer has no stubs
        if self._jieba is None:
            with self._lock:
                if self._jieba is None:
                    import jieba

                    jieba.setLogLevel(logging.WARNING)
                    if self._dictionary is not None:
                        # Parsing the small dictionary takes milliseconds; going through
                        # initialize() would also leave a jieba cache file in /tmp per index version.
                        tk = jieba.Tokenizer(dictionary=str(self._dictionary))
                        with self._dictionary.open("rb") as fh:
                            tk.FREQ, tk.total = tk.gen_pfdict(fh)
                        tk.initialized = True
                    else:
                        tk = jieba.Tokenizer()
                        tk.initialize()
                        for word in self._user_words:
                            if len(word) > 1:
                                tk.add_word(word, freq=max(2000, tk.suggest_freq(word, tune=False)))
                    self._jieba = tk
        return self._jieba

    def query_dictionary(self, texts: Iterable[str]) -> str:
        """A small jieba dictionary, in jieba's file format, that segments `texts` exactly as now.

        jieba's full dictionary takes seconds to load, and a query only needs the words
        the indexed texts contain. Every dictionary word found in those texts keeps its
        full frequency, and a filler entry restores the full total, so jieba sees the same
        candidate words with the same probabilities on indexed text and segments it the
        same way; elsewhere, words the index lacks could not match anyway.
        """
        tk = self._tokenizer()
        kept: dict[str, int] = {}
        runs = {run for text in texts for run in _HAN_RUN.findall(text)}
        for run in runs:
            for start, ends in tk.get_DAG(run).items():
                for end in ends:
                    word = run[start : end + 1]
                    if word not in kept and tk.FREQ.get(word):
                        kept[word] = tk.FREQ[word]
        for word in (*_ZH_STOP, *self._user_words):
            if tk.FREQ.get(word):
                kept.setdefault(word, tk.FREQ[word])
        lines = [f"{word} {freq}" for word, freq in sorted(kept.items())]
        filler = tk.total - sum(kept.values())
        if filler > 0:
            lines.append(f"{_FILLER} {filler}")
        return "\n".join(lines) + "\n"

    def __call__(self, text: str, chinese: bool = True) -> list[str]:
        """Tokens of `text`; `chinese=False` skips Chinese runs (and so never loads jieba)."""
        tokens: list[str] = []
        for run in _RUN.findall(text):
            if _HAN.match(run):
                if chinese:
                    tokens.extend(self._zh(run))
            elif run[0].isdigit():
                tokens.append(run)
            else:
                word = run.lower().strip("'-")
                if word and word not in _EN_STOP and len(word) > 1:
                    tokens.append(self._stem(word))
        return tokens

    def known_words(self, words: Iterable[str]) -> list[str]:
        """Tokens of words already known to be whole (glossary terms), without loading jieba.

        The glossary is jieba's user dictionary, so jieba keeps these words whole; this
        gives the same tokens (the word and, when enabled, its bigrams) for a fraction
        of the start-up cost, which matters when an English question is expanded with
        Chinese glossary terms.
        """
        tokens: list[str] = []
        for word in words:
            if not _HAN.match(word) or not _RUN.fullmatch(word):
                tokens.extend(self(word))
                continue
            if word in _ZH_STOP:
                continue
            tokens.append(word)
            if self._bigrams and len(word) > 2:
                tokens.extend(word[i : i + 2] for i in range(len(word) - 1))
        return tokens

    def _segment(self, run: str) -> tuple[str, ...]:
        words = [w for w in self._tokenizer().lcut(run, HMM=True) if w not in _ZH_STOP]
        tokens = list(words)
        if self._bigrams:
            for word in words:
                if len(word) > 2:
                    tokens.extend(word[i : i + 2] for i in range(len(word) - 1))
            # Bigrams across word boundaries catch compounds jieba split apart.
            for a, b in zip(words, words[1:]):
                if len(a) == 1 and len(b) == 1:
                    tokens.append(a + b)
        return tuple(tokens)
