"""Every supported file type loads; bad files fail with a clear LoaderError; chunks fit the window."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from rag.chunking import chunk_document
from rag.errors import LoaderError
from rag.loaders import load_bytes, load_file


def test_markdown_front_matter() -> None:
    doc = load_bytes("---\nid: x-1\ntitle: 牡丹\nlang: zh\ntags: [a]\naliases: [b]\n---\n# 牡丹\n\n## 毒性\n无毒。\n".encode(), "zh/x.md")
    assert (doc.doc_id, doc.title, doc.lang, doc.tags, doc.aliases, doc.markdown) == ("x-1", "牡丹", "zh", ["a"], ["b"], True)


def test_text_in_gb18030_is_read() -> None:
    doc = load_bytes("剑山用来固定花枝。".encode("gb18030"), "notes.txt")
    assert doc.lang == "zh" and "剑山" in doc.text


def test_html_keeps_headings_and_drops_scripts() -> None:
    html = b"<html><head><title>Tulips</title><script>evil()</script></head><body><h2>Care</h2><p>Cut tulips short.</p></body></html>"
    doc = load_bytes(html, "tulips.html")
    assert doc.title == "Tulips" and "## Care" in doc.text and "evil" not in doc.text


def test_docx_headings_become_sections() -> None:
    import docx

    document = docx.Document()
    document.add_heading("Wiring", level=1)
    document.add_heading("Gauges", level=2)
    document.add_paragraph("Use 22-gauge wire for roses.")
    buf = io.BytesIO()
    document.save(buf)
    doc = load_bytes(buf.getvalue(), "wiring.docx")
    assert "## Gauges" in doc.text and "22-gauge" in doc.text


def test_pdf_text_is_extracted() -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.cell(text="Hydrangeas drink through their petals.")
    pdf.set_title("Hydrangea care")
    doc = load_bytes(bytes(pdf.output()), "hydrangea.pdf")
    assert "Hydrangeas drink" in doc.text and doc.title == "Hydrangea care"


@pytest.mark.parametrize(
    ("data", "name", "reason"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR" + bytes(range(256)), "image.md", "binary"),
        (b"%PDF-1.4 this is not really a pdf", "broken.pdf", "pdf"),
        (b"PK\x03\x04 not a zip", "broken.docx", "docx"),
        (b"", "empty.txt", "empty"),
        (b"---\ntitle: [unclosed\n---\nbody", "bad.md", "front_matter"),
        (b"hello", "program.exe", "type"),
    ],
)
def test_bad_files_raise_loader_error(data: bytes, name: str, reason: str) -> None:
    with pytest.raises(LoaderError) as info:
        load_bytes(data, name)
    assert info.value.params["reason"] == reason and name in info.value.detail


def test_unreadable_path(tmp_path: Path) -> None:
    with pytest.raises(LoaderError):
        load_file(tmp_path / "missing.md")


def _count(texts: list[str]) -> list[int]:
    return [len(text) for text in texts]


def test_chunks_follow_headings_and_carry_a_prefix() -> None:
    doc = load_bytes("---\nid: f-p\ntitle: Peony\nlang: en\ntags: [a]\naliases: []\n---\n# Peony\n\n## Toxicity\nMild.\n\n## Use\nFocal flower.\n".encode(), "p.md")
    chunks = chunk_document(doc, _count, 200)
    assert [c.heading for c in chunks] == ["Toxicity", "Use"]
    assert chunks[0].index_text.startswith("Peony · Toxicity\n")


def test_long_chinese_sections_split_at_sentence_ends_within_the_window(embeddings) -> None:
    body = "".join(f"第{i}句讲牡丹的养护要点，剪口要斜，水要干净。" for i in range(60))
    doc = load_bytes(f"---\nid: z\ntitle: 牡丹\nlang: zh\ntags: [a]\naliases: []\n---\n# 牡丹\n\n## 养护\n{body}\n".encode(), "z.md")
    chunks = chunk_document(doc, embeddings.count_tokens_many, embeddings.max_tokens)
    assert len(chunks) > 1
    for chunk in chunks:
        assert embeddings.count_tokens(chunk.index_text) <= embeddings.max_tokens
        assert chunk.text.endswith("。")
