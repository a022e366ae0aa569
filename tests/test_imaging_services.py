"""The factory's imaging side end to end: settings → queue → tiny SDXL → saved PNG → SQLite."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from imaging.jobs import JobStore
from imaging.output import read_metadata

from .conftest import make_services

ROOT = Path(__file__).resolve().parent.parent


async def test_a_queued_job_is_drawn_saved_and_remembered(tiny_sdxl_dir, embeddings, tmp_path):
    services = make_services(
        tmp_path, embeddings, image_model=str(tiny_sdxl_dir), image_allow_cpu=True, image_backends="local",
        image_warmup=False, image_facts_top_k=0, image_default_steps=2,
    )
    imaging = services.imaging
    plan = imaging.plan("白色牡丹，青瓷瓶", "chinese")
    request = imaging.request(plan, seed=3)
    scheduler = await imaging.open_scheduler()
    try:
        job = await scheduler.submit("member-1", request, meta={"locale": "zh"})
        kinds = []
        finished = None
        async with asyncio.timeout(600):
            async for event in scheduler.events(job.id):
                kinds.append(event.kind)
                if event.terminal:
                    finished = event.job
        assert finished is not None
        assert kinds[0] in {"queued", "started"} and kinds[-1] == "done" and "progress" in kinds
    finally:
        await imaging.close_scheduler(scheduler)
    (image,) = finished.result["images"]
    png = Path(image["path"])
    assert png.is_file() and png.is_relative_to(tmp_path / "images")
    metadata = read_metadata(png)
    assert metadata.job_id == job.id and metadata.seed == 3 and metadata.backend == "local"
    assert metadata.prompt == plan.prompt and "tree peony" in metadata.prompt
    async with JobStore(services.settings.database_path) as store:
        stored = await store.get(job.id)
    assert stored.status == "done" and stored.request.seeds == (3,) and stored.meta == {"locale": "zh"}


def test_every_setting_is_documented_in_env_example():
    from bot.settings import Settings

    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(encoding="utf-8"), re.M))
    names = set()
    for field in Settings.model_fields.values():
        choices = getattr(field.validation_alias, "choices", [])
        names.add(next(c for c in choices if c.isupper()))
    assert names - documented == set()
    assert documented - names == set()


def test_the_llm_rewrite_goes_through_the_configured_chat_model(embeddings, tmp_path):
    from .fake_openai import FakeOpenAI

    with FakeOpenAI() as fake:
        services = make_services(
            tmp_path, embeddings, llm_provider="openai", llm_model="fake-model", llm_base_url=fake.base_url,
            llm_api_key="sk-test-secret", image_llm_rewrite=True, image_facts_top_k=0,
        )
        fake.mode = "scripted"
        fake.scripted = "a single tree peony in a black flower vessel, ink wash mood, soft window light"
        plan = services.imaging.plan("黑色花器里的一枝牡丹", "chinese")
        assert plan.prompt == fake.scripted and "prompt rewritten by the LLM" in plan.notes
        sent = fake.requests[-1]["messages"][-1]["content"]
        assert "tree peony" in sent and "black" in sent and "Prompt: " in sent

        fake.mode = "error"
        kept = services.imaging.plan("黑色花器里的一枝牡丹", "chinese")
        assert kept.prompt != fake.scripted and "tree peony" in kept.prompt and "black flower vessel" in kept.prompt
        assert any("LLM rewrite failed" in note for note in kept.notes)
        assert not any("sk-test-secret" in note for note in kept.notes)


def test_drawing_never_builds_a_missing_index(embeddings, tmp_path):
    services = make_services(tmp_path, embeddings)
    plan = services.imaging.plan("白色牡丹", "chinese")
    assert "tree peony" in plan.prompt and not any(t.origin == "fact" for t in plan.terms)
    assert not (tmp_path / "index").exists()


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"IMAGE_BACKENDS": "local,dalle"}, "IMAGE_BACKENDS"),
        ({"IMAGE_DEFAULT_SIZE": "1000x1000"}, "IMAGE_DEFAULT_SIZE"),
        ({"IMAGE_DEFAULT_STEPS": "70", "IMAGE_MAX_STEPS": "60"}, "IMAGE_DEFAULT_STEPS"),
        ({"IMAGE_BLOCKLIST_PATH": "/nonexistent/blocklist.txt"}, "IMAGE_BLOCKLIST_PATH"),
    ],
)
def test_bad_settings_get_one_clear_line_not_a_traceback(env, needle, tmp_path):
    import os
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "bot.cli", "prompt", "peony"], capture_output=True, text=True,
        env=dict(os.environ, HUAYI_DATA_DIR=str(tmp_path), **env), cwd=ROOT,
    )
    assert out.returncode == 2 and needle in out.stderr and "Traceback" not in out.stderr
