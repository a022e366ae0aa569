"""`huayi styles`, `prompt`, `draw` and `doctor` through the real CLI, tiny SDXL and fake Stability."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from bot.cli import app

from .conftest import make_services
from .fake_stability import FAKE_KEY, fake_stability  # noqa: F401

runner = CliRunner()


@pytest.fixture()
def tiny_services(full_services, tiny_sdxl_dir, embeddings, tmp_path):
    """Services on the full index, drawing with the tiny pipeline on the CPU."""
    services = make_services(
        full_services.settings.data_dir,
        embeddings,
        image_model=str(tiny_sdxl_dir),
        image_allow_cpu=True,
        image_backends="local",
        image_warmup=False,
        image_default_steps=2,
    )
    services._index = full_services.index()
    return services


def test_styles_lists_every_template(full_services):
    result = runner.invoke(app, ["styles"], obj=full_services)
    assert result.exit_code == 0, result.output
    for style_id in ("chinese", "european", "japanese", "modern", "wedding", "korean", "dutch-still-life",
                     "minimalist", "garden", "tropical", "sympathy", "festival"):
        assert style_id in result.stdout


def test_prompt_json_translates_and_enriches_from_the_knowledge_base(full_services):
    result = runner.invoke(app, ["prompt", "优雅大气的中式牡丹插花，黑色花器", "--style", "chinese", "--json"], obj=full_services)
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["prompt"].startswith("elegant grand Chinese-style tree peony flower arrangement, black flower vessel")
    assert all(plan["tokens"][k] <= 77 for k in ("prompt", "prompt_2", "negative_prompt"))
    facts = [t for t in plan["terms"] if t["origin"] == "fact"]
    assert facts and all(t["reference"] for t in facts)
    assert plan["style_preset"] and plan["style_id"] == "chinese"


def test_prompt_refusals_are_polite_and_in_the_idea_language(full_services):
    blocked = runner.invoke(app, ["prompt", "血腥的玫瑰", "--style", "modern"], obj=full_services)
    assert blocked.exit_code == 2 and "不适合" in blocked.stderr and "Traceback" not in blocked.output
    unknown = runner.invoke(app, ["prompt", "white tulips", "--style", "baroque"], obj=full_services)
    assert unknown.exit_code == 2 and "baroque" in unknown.stderr and "dutch-still-life" in unknown.stderr


def test_draw_json_renders_saves_metadata_and_reproduces_seeds(tiny_services, tmp_path):
    args = ["draw", "白色牡丹，青瓷瓶", "--style", "chinese", "--seed", "42", "--count", "2", "--out", str(tmp_path), "--json"]
    result = runner.invoke(app, args, obj=tiny_services)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["backend"] == "local" and payload["fallback_reason"] is None
    assert [i["seed"] for i in payload["images"]] == [42, 43]
    assert "tree peony" in payload["prompt"] and "celadon" in payload["prompt"]
    first = Path(payload["images"][0]["path"])
    assert first.parent == tmp_path and first.with_suffix(".json").is_file()
    with Image.open(first) as image:
        assert image.size == (1024, 1024)
        assert "Seed: 42, Size: 1024x1024" in image.text["parameters"]
    again = runner.invoke(app, ["draw", "白色牡丹，青瓷瓶", "--style", "chinese", "--seed", "42", "--out", str(tmp_path), "--json"], obj=tiny_services)
    with Image.open(json.loads(again.stdout)["images"][0]["path"]) as a, Image.open(first) as b:
        diff = np.abs(np.asarray(a.convert("L"), dtype=np.int16) - np.asarray(b.convert("L"), dtype=np.int16)).max()
    assert diff <= 2


def test_draw_rejects_bad_parameters_before_any_work(tiny_services, tmp_path):
    result = runner.invoke(app, ["draw", "red roses", "--size", "1000x1000", "--out", str(tmp_path)], obj=tiny_services)
    assert result.exit_code == 2 and "1024x1024" in result.stderr and "Traceback" not in result.output
    result = runner.invoke(app, ["draw", "red roses", "--count", "9", "--out", str(tmp_path)], obj=tiny_services)
    assert result.exit_code == 2 and "1 to 4" in result.stderr
    assert not any(tmp_path.iterdir())


def test_draw_falls_back_to_stability_and_reports_it(full_services, tiny_sdxl_dir, embeddings, fake_stability, tmp_path):  # noqa: F811
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    services = make_services(
        full_services.settings.data_dir, embeddings, image_model=str(tiny_sdxl_dir), stability_api_key=FAKE_KEY,
        stability_api_base=fake_stability.base_url, image_facts_top_k=0,
    )
    result = runner.invoke(app, ["draw", "sunflowers in a tin bucket", "--style", "garden", "--out", str(tmp_path), "--json"], obj=services)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["backend"] == "stability" and "IMAGE_ALLOW_CPU" in payload["fallback_reason"]
    assert fake_stability.requests[-1].fields["style_preset"] == services.imaging.style("garden").stability_preset


def test_draw_without_any_backend_says_so(full_services, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = runner.invoke(app, ["draw", "红色郁金香", "--out", str(tmp_path)], obj=full_services)
    assert result.exit_code == 1 and "绘图后端" in result.stderr and "Traceback" not in result.output


def test_doctor_reports_without_leaking_the_key(full_services, embeddings):
    services = make_services(full_services.settings.data_dir, embeddings, stability_api_key="sk-very-secret-123")
    services._index = full_services.index()
    result = runner.invoke(app, ["doctor"], obj=services)
    assert result.exit_code == 0, result.output
    assert torch.__version__ in result.stdout and "Stability key" in result.stdout and "chunks" in result.stdout
    assert "sk-very-secret-123" not in result.output


def test_draw_into_an_unwritable_directory_fails_politely(tiny_services, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the output directory should be")
    result = runner.invoke(app, ["draw", "white tulips", "--steps", "1", "--out", str(blocker / "out")], obj=tiny_services)
    assert result.exit_code == 1 and "Couldn't save the image" in result.stderr and "Traceback" not in result.output
