"""The `huayi` CLI: JSON output, stdin batches in order, polite errors, progress-free pipes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from typer.testing import CliRunner

from bot.cli import app

runner = CliRunner()


def test_ask_json(full_services) -> None:
    result = runner.invoke(app, ["ask", "Why does vase water go cloudy?", "--json"], obj=full_services)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert not payload["abstained"] and payload["sources"][0]["lang"] == "en"


def test_ask_human_output_lists_sources(full_services) -> None:
    result = runner.invoke(app, ["ask", "剑山怎么用？"], obj=full_services)
    assert result.exit_code == 0 and "[1]" in result.stdout and "knowledge_base/zh/" in result.stdout


def test_empty_and_huge_questions_exit_2_with_a_message(full_services) -> None:
    empty = runner.invoke(app, ["ask", "   "], obj=full_services)
    assert empty.exit_code == 2 and "empty" in empty.stderr.lower()
    huge = runner.invoke(app, ["ask", "花" * 20000], obj=full_services)
    assert huge.exit_code == 2 and "20000" in huge.stderr and "Traceback" not in huge.output


def test_bad_mode(full_services) -> None:
    result = runner.invoke(app, ["ask", "peony", "--mode", "magic"], obj=full_services)
    assert result.exit_code == 2


def test_stdin_batch_keeps_order_and_survives_bad_lines(full_services) -> None:
    lines = ["How long do tulips last?", "", "今天上证指数收盘是多少？", "牡丹对猫有毒吗？"]
    result = runner.invoke(app, ["ask", "--json", "-"], input="\n".join(lines) + "\n", obj=full_services)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 4
    assert rows[0]["sources"][0]["path"].endswith("en/flowers/tulip.md")
    assert rows[1]["error"] == "invalid_question" and rows[1]["abstained"]
    assert rows[2]["abstained"] and rows[2]["sources"] == []
    assert rows[3]["sources"][0]["path"].endswith("zh/flowers/tree-peony.md")


def test_console_script_runs_without_a_terminal(full_services) -> None:
    env = dict(os.environ, HUAYI_DATA_DIR=str(full_services.settings.data_dir), HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "ask", "--json", "-"],
        input="What is a kenzan?\n", capture_output=True, text=True, env=env, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)
    assert not row["abstained"] and "Traceback" not in proc.stderr


def test_console_script_keeps_exit_codes_and_messages(full_services) -> None:
    """`main()` ends the process with os._exit: the exit code and the last message must survive it."""
    env = dict(os.environ, HUAYI_DATA_DIR=str(full_services.settings.data_dir), HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "ask", "   "], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 2 and "empty" in proc.stderr.lower() and "Traceback" not in proc.stderr
    listed = subprocess.run([sys.executable, "-m", "bot.cli", "--help"], capture_output=True, text=True, env=env, timeout=600)
    assert listed.returncode == 0 and "index" in listed.stdout and listed.stdout.rstrip().endswith("╯")


def test_the_fast_exit_defers_to_threads_still_working() -> None:
    """With a Python thread still busy (the bot's lanes during a stop), the normal exit must wait for it."""
    from bot.cli import _end_process

    release = threading.Event()
    worker = threading.Thread(target=release.wait, args=(30,))
    worker.start()
    try:
        with pytest.raises(SystemExit) as info:
            _end_process(3)
        assert info.value.code == 3
    finally:
        release.set()
        worker.join()


def test_chat_keeps_the_conversation(full_services) -> None:
    script = "绣球花怎么养护？\n那它对猫有毒吗？\n/reset\n/exit\n"
    result = runner.invoke(app, ["chat"], input=script, obj=full_services)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("zh/flowers/hydrangea.md") >= 2, "the follow-up is answered from the same article"
    assert "已开始新的对话" in result.stdout
