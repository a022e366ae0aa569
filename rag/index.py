"""The on-disk knowledge index: versioned, atomically switched, incrementally updated.

Layout under the index directory::

    CURRENT              name of the live version (replaced atomically)
    v-<stamp>/           manifest.json, vectors.faiss, docstore.sqlite, bm25/
    .lock                held by the one `huayi index` run allowed at a time

A run writes a complete new version directory, then swaps `CURRENT`; readers never
see a half-written index, and a crash leaves the previous version live.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .bm25 import BM25Index
from .chunking import Chunk, chunk_document
from .crosslang import DenseView
from .embeddings import SentenceEmbeddings
from .errors import IndexBusyError, IndexCorruptError, IndexMismatchError, IndexMissingError, LoaderError
from .loaders import is_supported, load_file
from .store import FaissStore
from .tokenize import BilingualTokenizer

__all__ = ["KnowledgeIndex", "IndexReport", "SourceRoot", "update_index", "FORMAT_VERSION", "QUERY_DICTIONARY", "Progress"]

log = logging.getLogger(__name__)
FORMAT_VERSION = 1
# jieba dictionary of the indexed words, so queries need not load jieba's full one (see BilingualTokenizer).
QUERY_DICTIONARY = "jieba_query.dict"
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class SourceRoot:
    """A directory of documents; `label` prefixes the stored paths (e.g. `knowledge_base/...`)."""

    directory: Path
    label: str


@dataclass
class IndexReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    chunks: int = 0
    embedded_chunks: int = 0
    seconds: float = 0.0
    version: str = ""

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class KnowledgeIndex:
    """A loaded index: vector store, BM25 and manifest, ready for retrieval."""

    def __init__(self, store: FaissStore, bm25: BM25Index, manifest: dict[str, Any], directory: Path | None) -> None:
        self.store = store
        self.bm25 = bm25
        self.manifest = manifest
        self.directory = directory

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        return self.manifest.get("files", {})

    @staticmethod
    def current_dir(index_dir: Path) -> Path:
        pointer = index_dir / "CURRENT"
        try:
            name = pointer.read_text(encoding="utf-8").strip()
        except FileNotFoundError as exc:
            raise IndexMissingError(f"no index in {index_dir}", path=str(index_dir)) from exc
        except OSError as exc:
            raise IndexCorruptError(f"cannot read {pointer}: {exc}", path=str(index_dir)) from exc
        if not name or "/" in name or name.startswith("."):
            raise IndexCorruptError(f"{pointer} does not name an index version", path=str(index_dir))
        directory = index_dir / name
        if not directory.is_dir():
            raise IndexCorruptError(f"{pointer} names {name}, which is missing", path=str(index_dir))
        return directory

    @classmethod
    def load(
        cls, index_dir: Path, embeddings: SentenceEmbeddings, dense_view_key: str, verify: bool = True
    ) -> "KnowledgeIndex":
        """Load the live version; refuse one built for another model or whose files changed."""
        directory = cls.current_dir(index_dir)
        try:
            manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise IndexCorruptError(f"manifest in {directory} is unreadable: {exc}", path=str(index_dir)) from exc
        if manifest.get("format") != FORMAT_VERSION:
            raise IndexMismatchError(
                f"index format {manifest.get('format')} is not {FORMAT_VERSION}", path=str(index_dir), what="format"
            )
        if manifest.get("embedding_model") != embeddings.model_name:
            raise IndexMismatchError(
                f"index was built with embedding model {manifest.get('embedding_model')!r}, "
                f"but EMBEDDING_MODEL is {embeddings.model_name!r}",
                path=str(index_dir),
                what="model",
                built=manifest.get("embedding_model"),
                configured=embeddings.model_name,
            )
        if manifest.get("dense_view") != dense_view_key:
            raise IndexMismatchError(
                f"index embeds {manifest.get('dense_view')!r} text, settings ask for {dense_view_key!r}",
                path=str(index_dir),
                what="dense_view",
            )
        if verify:
            for name, expected in manifest.get("artifacts", {}).items():
                target = directory / name
                if not target.is_file() or _sha256(target) != expected:
                    raise IndexCorruptError(f"{target} is missing or does not match its manifest hash", path=str(index_dir))
        dimension = int(manifest.get("dimension", 0))
        store = FaissStore.load(directory, dimension)
        try:
            bm25 = BM25Index.load(directory / "bm25")
        except (OSError, ValueError, KeyError) as exc:
            raise IndexCorruptError(f"BM25 index in {directory} is unreadable: {exc}", path=str(index_dir)) from exc
        if sorted(bm25.ids.tolist()) != store.ordered_ids():
            raise IndexCorruptError(f"BM25 and vector index in {directory} disagree", path=str(index_dir))
        return cls(store, bm25, manifest, directory)

    def check_dimension(self, embeddings: SentenceEmbeddings) -> None:
        if self.store.dimension != embeddings.dimension:
            raise IndexMismatchError(
                f"index dimension {self.store.dimension} does not match the model's {embeddings.dimension}",
                what="dimension",
            )

    def stats(self) -> dict[str, Any]:
        langs: dict[str, int] = {}
        for chunk in self.store.chunks.values():
            langs[chunk.lang] = langs.get(chunk.lang, 0) + 1
        return {
            "documents": len(self.files),
            "chunks": len(self.store),
            "chunks_by_lang": langs,
            "embedding_model": self.manifest.get("embedding_model"),
            "dimension": self.manifest.get("dimension"),
            "version": self.directory.name if self.directory else None,
            "built_at": self.manifest.get("built_at"),
            "skipped": self.manifest.get("skipped", {}),
        }


def _scan(roots: Iterable[SourceRoot]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for root in roots:
        if not root.directory.is_dir():
            continue
        for path in sorted(root.directory.rglob("*")):
            if path.is_file() and is_supported(path) and not any(p.startswith(".") for p in path.relative_to(root.directory).parts):
                found[f"{root.label}/{path.relative_to(root.directory).as_posix()}"] = path
    return found


def update_index(
    index_dir: Path,
    roots: Iterable[SourceRoot],
    embeddings: SentenceEmbeddings,
    tokenizer: BilingualTokenizer,
    tokenizer_key: str,
    dense_view: DenseView,
    rebuild: bool = False,
    progress: Progress | None = None,
) -> IndexReport:
    """Bring the index up to date with the source files, embedding only what changed.

    Raises `IndexBusyError` when another run holds the lock, and refuses to extend an
    index that is damaged or built for another model unless `rebuild` is set.
    """
    from filelock import FileLock, Timeout

    index_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(index_dir / ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout as exc:
        raise IndexBusyError(f"another indexing run holds {index_dir / '.lock'}", path=str(index_dir)) from exc
    try:
        return _update_locked(index_dir, list(roots), embeddings, tokenizer, tokenizer_key, dense_view, rebuild, progress)
    finally:
        lock.release()


def _embed(texts: list[str], embeddings: SentenceEmbeddings, notify: Progress) -> np.ndarray:
    """One encoder call over all new chunks, so it can batch by token length across the whole run."""
    notify("embed", 0, len(texts))
    return embeddings.encode(texts, progress=lambda done, total: notify("embed", done, total))


def _update_locked(
    index_dir: Path,
    roots: list[SourceRoot],
    embeddings: SentenceEmbeddings,
    tokenizer: BilingualTokenizer,
    tokenizer_key: str,
    dense_view: DenseView,
    rebuild: bool,
    progress: Progress | None,
) -> IndexReport:
    started = time.perf_counter()
    report = IndexReport()
    notify = progress or (lambda stage, done, total: None)

    previous: KnowledgeIndex | None = None
    if not rebuild:
        try:
            previous = KnowledgeIndex.load(index_dir, embeddings, dense_view.key)
        except IndexMissingError:
            previous = None
    if previous is not None:
        previous.check_dimension(embeddings)
        store = previous.store
        old_files: dict[str, dict[str, Any]] = dict(previous.files)
        retokenize = previous.manifest.get("tokenizer") != tokenizer_key
    else:
        store = FaissStore(embeddings.dimension)
        old_files, retokenize = {}, False

    sources = _scan(roots)
    hashes = {key: _sha256(path) for key, path in sources.items()}
    files: dict[str, dict[str, Any]] = {}
    to_load: list[str] = []
    for key, digest in hashes.items():
        old = old_files.get(key)
        if old and old.get("sha256") == digest:
            files[key] = old
            report.unchanged += 1
        else:
            to_load.append(key)
            (report.updated if old else report.added).append(key)
    for key, old in old_files.items():
        if key not in hashes or key in to_load:
            store.remove_ids(old.get("ids", []))
            if key not in hashes:
                report.removed.append(key)

    new_chunks: list[tuple[str, list[Chunk]]] = []
    max_tokens = embeddings.max_tokens
    for n, key in enumerate(to_load, start=1):
        notify("load", n, len(to_load))
        try:
            doc = load_file(sources[key], key)
        except LoaderError as exc:
            report.skipped[key] = exc.detail
            log.warning("skipped %s: %s", key, exc.detail)
            files[key] = {"sha256": hashes[key], "ids": [], "skipped": exc.detail}
            continue
        new_chunks.append((key, chunk_document(doc, embeddings.count_tokens_many, max_tokens)))

    flat = [chunk for _, chunks in new_chunks for chunk in chunks]
    if flat:
        # BM25 tokenising is pure Python (jieba) and the encoder's matrix products release
        # the GIL, so the two run side by side instead of one after the other. The encoder
        # is loaded first: importing torch holds the GIL and would only take turns with jieba.
        embeddings.prepare(len(flat))
        abandon = threading.Event()

        def tokenize_all() -> list[list[str]]:
            tokens: list[list[str]] = []
            for chunk in flat:
                if abandon.is_set():
                    break
                tokens.append(tokenizer(chunk.index_text))
            return tokens

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="huayi-bm25") as pool:
            tokenized = pool.submit(tokenize_all)
            try:
                matrix = _embed([dense_view.document(c) for c in flat], embeddings, notify)
            except BaseException:
                abandon.set()  # so an error or Ctrl-C surfaces now, not after jieba finishes
                raise
            tokens = tokenized.result()
        offset = 0
        for key, chunks in new_chunks:
            end = offset + len(chunks)
            ids = store.add_chunks(chunks, matrix[offset:end], tokens[offset:end])
            offset = end
            files[key] = {"sha256": hashes[key], "ids": ids, "doc_id": chunks[0].doc_id if chunks else None}
    report.embedded_chunks = len(flat)

    if retokenize:
        for chunk in store.chunks.values():
            chunk.tokens = tokenizer(chunk.index_text)

    has_dictionary = (
        previous is not None and previous.directory is not None and (previous.directory / QUERY_DICTIONARY).is_file()
    )
    if previous is not None and not report.changed and not retokenize and has_dictionary:
        report.chunks = len(store)
        report.version = previous.directory.name if previous.directory else ""
        report.skipped = previous.manifest.get("skipped", {}) | report.skipped
        report.seconds = time.perf_counter() - started
        return report

    ordered = store.ordered_ids()
    notify("bm25", 0, 1)
    bm25 = BM25Index.build(ordered, [store.chunks[i].tokens for i in ordered])
    notify("bm25", 1, 1)

    version = f"v-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.perf_counter_ns() % 10**6}"
    staging = index_dir / f".tmp-{version}"
    staging.mkdir()
    try:
        store.save(staging)
        bm25.save(staging / "bm25")
        notify("dictionary", 0, 1)
        dictionary = tokenizer.query_dictionary(store.chunks[i].index_text for i in ordered)
        (staging / QUERY_DICTIONARY).write_text(dictionary, encoding="utf-8")
        notify("dictionary", 1, 1)
        manifest = {
            "format": FORMAT_VERSION,
            "embedding_model": embeddings.model_name,
            "dense_view": dense_view.key,
            "dimension": store.dimension,
            "max_tokens": max_tokens,
            "tokenizer": tokenizer_key,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "chunk_count": len(store),
            "files": files,
            "skipped": {k: v["skipped"] for k, v in files.items() if v.get("skipped")},
            "artifacts": {name: _sha256(staging / name) for name in ("vectors.faiss", "docstore.sqlite", QUERY_DICTIONARY)},
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        _fsync_dir(staging)
        os.replace(staging, index_dir / version)
        pointer_tmp = index_dir / f".CURRENT.{os.getpid()}"
        pointer_tmp.write_text(version, encoding="utf-8")
        with pointer_tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(pointer_tmp, index_dir / "CURRENT")
        _fsync_dir(index_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    keep = {version, previous.directory.name if previous is not None and previous.directory else ""}
    for stale in index_dir.iterdir():
        if stale.is_dir() and stale.name not in keep and (stale.name.startswith("v-") or stale.name.startswith(".tmp-")):
            shutil.rmtree(stale, ignore_errors=True)
    report.chunks = len(store)
    report.version = version
    report.seconds = time.perf_counter() - started
    return report
