"""Incremental, atomic, locked indexing with the real MiniLM and real FAISS."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock

from rag.errors import IndexBusyError, IndexCorruptError, IndexMismatchError, IndexMissingError
from rag.index import KnowledgeIndex

from .conftest import make_services


@pytest.fixture()
def services(tmp_path, small_kb, embeddings):
    return make_services(tmp_path / "data", embeddings, kb_dir=small_kb)


def test_build_then_incremental_update(services, small_kb: Path) -> None:
    first = services.build_index()
    assert len(first.added) == 6 and first.embedded_chunks == first.chunks > 0

    again = services.build_index()
    assert again.embedded_chunks == 0 and not again.changed and again.unchanged == 6

    tulip = small_kb / "en/flowers/tulip.md"
    tulip.write_text(tulip.read_text(encoding="utf-8") + "\nTulips last 5 to 7 days.\n", encoding="utf-8")
    (small_kb / "notes.txt").unlink()
    third = services.build_index()
    assert third.updated == ["kb/en/flowers/tulip.md"] and third.removed == ["kb/notes.txt"]
    assert third.embedded_chunks == 1, "only the changed file is re-embedded"

    index = services.index()
    paths = {c.path for c in index.store.chunks.values()}
    assert "kb/notes.txt" not in paths and len(index.store) == index.store.index.ntotal
    assert any("5 to 7 days" in c.text for c in index.store.chunks.values())


def test_scores_are_cosines(services) -> None:
    services.build_index()
    index = services.index()
    chunk = next(c for c in index.store.chunks.values() if c.lang == "en")
    vector = services.embeddings.encode([services.dense_view.document(chunk)])[0]
    (best_id, best_score), *_ = index.store.search_vector(vector, 3)
    assert best_id == chunk.faiss_id and best_score == pytest.approx(1.0, abs=1e-4)
    assert float(np.linalg.norm(vector)) == pytest.approx(1.0, abs=1e-5)


def test_unreadable_files_are_skipped_and_reported(services, small_kb: Path) -> None:
    (small_kb / "en/broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    (small_kb / "en/photo.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR" + bytes(range(256)))
    report = services.build_index()
    assert set(report.skipped) == {"kb/en/broken.pdf", "kb/en/photo.md"}
    assert len(report.added) == 8 and services.index().stats()["documents"] == 8
    assert services.build_index().embedded_chunks == 0, "skipped files are not retried until they change"


def test_missing_index(services) -> None:
    with pytest.raises(IndexMissingError):
        services.index(auto_build=False)


def test_first_use_builds_the_index(services) -> None:
    index = services.index()
    assert len(index.store) > 0 and index.stats()["documents"] == 6


def test_refuses_an_index_built_for_another_model(services, embeddings) -> None:
    services.build_index()
    index_dir = services.settings.index_dir
    manifest_path = KnowledgeIndex.current_dir(index_dir) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["embedding_model"] = "sentence-transformers/some-other-model"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError) as info:
        KnowledgeIndex.load(index_dir, embeddings, services.dense_view.key)
    assert info.value.params["what"] == "model"
    with pytest.raises(IndexMismatchError):
        services.build_index()  # an incremental run refuses too
    assert services.build_index(rebuild=True).chunks > 0


@pytest.mark.parametrize("damage", ["truncate_vectors", "delete_docstore", "delete_version", "garbage_pointer"])
def test_damaged_index_is_refused_then_rebuilt(services, embeddings, damage: str) -> None:
    services.build_index()
    index_dir = services.settings.index_dir
    live = KnowledgeIndex.current_dir(index_dir)
    if damage == "truncate_vectors":
        data = (live / "vectors.faiss").read_bytes()
        (live / "vectors.faiss").write_bytes(data[: len(data) // 2])
    elif damage == "delete_docstore":
        (live / "docstore.sqlite").unlink()
    elif damage == "delete_version":
        for f in live.rglob("*"):
            if f.is_file():
                f.unlink()
    else:
        (index_dir / "CURRENT").write_text("../../etc")
    with pytest.raises(IndexCorruptError):
        KnowledgeIndex.load(index_dir, embeddings, services.dense_view.key)
    report = services.build_index(rebuild=True)
    assert report.chunks > 0
    assert len(KnowledgeIndex.load(index_dir, embeddings, services.dense_view.key).store) == report.chunks


def test_two_runs_at_once_are_refused(services) -> None:
    services.settings.index_dir.mkdir(parents=True)
    with FileLock(str(services.settings.index_dir / ".lock")):
        with pytest.raises(IndexBusyError):
            services.build_index()
    assert services.build_index().chunks > 0


def test_failed_run_leaves_the_previous_version_live(services, small_kb: Path, monkeypatch) -> None:
    first = services.build_index()
    (small_kb / "en/new.txt").write_text("Ranunculus lasts a week in cool water.", encoding="utf-8")

    def boom(texts, progress=None):
        raise RuntimeError("power cut")

    monkeypatch.setattr(services.embeddings, "encode", boom)
    with pytest.raises(RuntimeError):
        services.build_index()
    monkeypatch.undo()
    index_dir = services.settings.index_dir
    assert KnowledgeIndex.current_dir(index_dir).name == first.version
    assert not [p for p in index_dir.iterdir() if p.name.startswith(".tmp-")]


def test_a_failed_embedding_stops_the_bm25_thread_early(services, monkeypatch) -> None:
    """BM25 tokenising runs beside the encoder; when encoding fails it must stop, not finish every chunk."""
    failed = threading.Event()
    real = services.tokenizer
    calls: list[str] = []

    def slow_tokenizer(text: str, chinese: bool = True) -> list[str]:
        calls.append(text)
        failed.wait(timeout=30)
        return real(text, chinese)

    def boom(texts, progress=None):
        failed.set()
        raise RuntimeError("power cut")

    monkeypatch.setitem(services.__dict__, "tokenizer", slow_tokenizer)
    monkeypatch.setattr(services.embeddings, "encode", boom)
    with pytest.raises(RuntimeError, match="power cut"):
        services.build_index()
    assert 1 <= len(calls) <= 2, f"tokenised {len(calls)} chunks after the encoder had failed"


def test_bm25_idf_comes_from_document_frequencies_and_survives_a_reload(tmp_path):
    import math

    from rag.bm25 import BM25Index

    index = BM25Index.build([7, 8, 9], [["rose", "water", "rose"], ["rose"], ["tulip"]])
    expected = {
        "rose": math.log(1 + (3 - 2 + 0.5) / (2 + 0.5)),
        "water": math.log(1 + (3 - 1 + 0.5) / (1 + 0.5)),
        "tulip": math.log(1 + (3 - 1 + 0.5) / (1 + 0.5)),
    }
    index.save(tmp_path / "bm25")
    for idf in (index.idf(), BM25Index.load(tmp_path / "bm25").idf()):
        assert set(idf) >= set(expected)
        assert all(abs(idf[t] - v) < 1e-9 for t, v in expected.items())


def test_bm25_scores_read_from_disk_match_bm25s(tmp_path):
    import random

    import bm25s

    from rag.bm25 import BM25Index

    rng = random.Random(3)
    words = ["rose", "peony", "water", "stem", "cut", "vase", "牡丹", "剪", "水", "茎"]
    corpus = [[rng.choice(words) for _ in range(rng.randint(1, 12))] for _ in range(40)]
    BM25Index.build(list(range(100, 140)), corpus).save(tmp_path / "bm25")
    loaded = BM25Index.load(tmp_path / "bm25")
    reference = bm25s.BM25.load(str(tmp_path / "bm25"))
    for _ in range(20):
        query = [rng.choice(words) for _ in range(rng.randint(1, 4))]
        assert np.allclose(loaded.scores(query + ["unknown-word"]), reference.get_scores(query), atol=1e-6)
    assert loaded.ids.tolist() == list(range(100, 140))


def test_index_carries_a_query_dictionary_and_adds_one_to_an_index_without_it(services) -> None:
    from rag.index import QUERY_DICTIONARY

    services.build_index()
    index = services.index()
    dictionary = index.directory / QUERY_DICTIONARY
    assert QUERY_DICTIONARY in index.manifest["artifacts"]
    words = {line.split()[0] for line in dictionary.read_text(encoding="utf-8").splitlines()}
    assert {"牡丹", "剑山"} <= words
    tokenizer = services.query_tokenizer(index)
    assert tokenizer is not services.tokenizer
    assert tokenizer("牡丹的瓶插期一般为3到5天") == services.tokenizer("牡丹的瓶插期一般为3到5天")

    # An index written before query dictionaries existed gets one on the next run, with nothing re-embedded.
    dictionary.unlink()
    manifest = json.loads((index.directory / "manifest.json").read_text(encoding="utf-8"))
    del manifest["artifacts"][QUERY_DICTIONARY]
    (index.directory / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    report = services.build_index()
    assert report.embedded_chunks == 0
    assert (services.index().directory / QUERY_DICTIONARY).is_file()
