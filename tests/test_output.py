"""imaging.output: A1111 infotext, PNG chunks + sidecar, atomic writes, and fitting under a byte cap."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imaging.output import (
    DISCORD_DEFAULT_FILE_LIMIT,
    JPEG_QUALITIES,
    MIN_LONG_SIDE,
    WEBP_QUALITIES,
    EncodedImage,
    ImageMetadata,
    SavedImage,
    fit_to_limit,
    image_directory,
    make_stem,
    read_metadata,
    save_image,
)

CREATED = "2025-05-01T08:30:00+00:00"


def meta(**overrides: object) -> ImageMetadata:
    base: dict[str, object] = dict(
        prompt="a peony bouquet, soft light",
        negative_prompt="blurry, lowres",
        steps=30,
        sampler="Euler",
        cfg=6.0,
        seed=123,
        width=1024,
        height=1024,
        model="stabilityai/stable-diffusion-xl-base-1.0",
        backend="diffusers",
        created_at=CREATED,
    )
    base.update(overrides)
    return ImageMetadata(**base)  # type: ignore[arg-type]


def noise(size: int, seed: int = 0, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    channels = len(mode)
    return Image.fromarray(rng.integers(0, 256, (size, size, channels), dtype=np.uint8), mode)


@pytest.fixture(scope="module")
def noisy_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("noise") / "noise.png"
    noise(1024).save(path, "PNG", compress_level=1)
    return path


# ---- A1111 infotext ---------------------------------------------------------------------


def test_parameters_text_matches_a1111_layout() -> None:
    text = meta().parameters_text()
    lines = text.split("\n")
    assert lines[0] == "a peony bouquet, soft light"
    assert lines[1] == "Negative prompt: blurry, lowres"
    assert lines[2].startswith(
        "Steps: 30, Sampler: Euler, CFG scale: 6.0, Seed: 123, Size: 1024x1024, "
        "Model: stabilityai/stable-diffusion-xl-base-1.0, Backend: diffusers, "
    )
    assert lines[2].endswith(f'Created: "{CREATED}"')  # ':' in a value → JSON-quoted, as A1111 does
    assert len(lines) == 3


def test_empty_negative_prompt_line_is_omitted() -> None:
    text = meta(negative_prompt="").parameters_text()
    assert "Negative prompt" not in text
    assert text.split("\n")[1].startswith("Steps: 30, ")
    assert ImageMetadata.parse_parameters(text) == meta(negative_prompt="")


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"negative_prompt": ""},
        {"prompt": "牡丹与芍药的花束，柔和的晨光", "negative_prompt": "模糊，低分辨率"},
        {"prompt": 'a "tall" vase, roses: red, white\nsecond line', "negative_prompt": "a\nb, c"},
        {"sampler": "DPM++ 2M Karras", "model": "my, model: v2", "backend": 'say "hi"'},
        {"style_id": "watercolor", "prompt_2": "ink, wash: 水墨", "job_id": "job-42"},
        {"cfg": 7, "seed": 4294967295, "width": 832, "height": 1216},
        {"prompt": "", "negative_prompt": "only negative"},
        {"prompt": "  padded  ", "sampler": " spaced "},
    ],
)
def test_parameters_round_trip(overrides: dict[str, object]) -> None:
    original = meta(**overrides)
    text = original.parameters_text()
    assert text.count("\n") >= 1
    parsed = ImageMetadata.parse_parameters(text)
    assert parsed == original


def test_values_with_commas_and_quotes_are_json_quoted() -> None:
    text = meta(sampler='Euler, "a"').parameters_text()
    assert 'Sampler: "Euler, \\"a\\""' in text


def test_parse_reads_a1111_own_infotext() -> None:
    text = (
        "girl with a beret, blue eyes\n"
        "Negative prompt: ugly, (deformed)\n"
        "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 965400086, Size: 512x768, Model hash: 45dee52b"
    )
    parsed = ImageMetadata.parse_parameters(text)
    assert (parsed.prompt, parsed.negative_prompt) == ("girl with a beret, blue eyes", "ugly, (deformed)")
    assert (parsed.steps, parsed.sampler, parsed.cfg, parsed.seed) == (20, "Euler a", 7.0, 965400086)
    assert (parsed.width, parsed.height, parsed.model, parsed.backend) == (512, 768, "", "")


def test_parse_rejects_text_without_settings() -> None:
    with pytest.raises(ValueError, match="settings"):
        ImageMetadata.parse_parameters("just a prompt\nwith two lines")


# ---- saving -----------------------------------------------------------------------------


def test_save_writes_png_chunks_and_sidecar(tmp_path: Path) -> None:
    m = meta(prompt="牡丹 peony, 柔光", style_id="guohua", job_id="j1")
    saved = save_image(Image.new("RGB", (64, 48), "pink"), m, tmp_path / "out", "job-1_0")
    assert isinstance(saved, SavedImage)
    assert saved.png_path == (tmp_path / "out" / "job-1_0.png").resolve()
    assert saved.bytes == saved.png_path.stat().st_size

    with Image.open(saved.png_path) as img:
        assert img.size == (64, 48)
        assert img.text["parameters"] == m.parameters_text()  # type: ignore[attr-defined]
        assert img.info["parameters"].startswith("牡丹 peony, 柔光\n")
        assert json.loads(img.text["huayi"]) == m.to_dict()  # type: ignore[attr-defined]

    raw = saved.png_path.read_bytes()
    assert b"iTXt" in raw  # the non-Latin-1 text went into UTF-8 iTXt
    assert "牡丹".encode() in raw

    sidecar_text = saved.json_path.read_text(encoding="utf-8")
    assert "牡丹" in sidecar_text  # ensure_ascii=False
    assert json.loads(sidecar_text) == m.to_dict()
    assert read_metadata(saved.png_path) == m


def test_ascii_parameters_use_plain_text_chunk(tmp_path: Path) -> None:
    saved = save_image(Image.new("RGB", (8, 8)), meta(), tmp_path, "ascii")
    raw = saved.png_path.read_bytes()
    assert b"tEXtparameters\x00" in raw
    # Latin-1 but not ASCII: still UTF-8 iTXt, since many readers mis-decode tEXt bytes.
    latin = save_image(Image.new("RGB", (8, 8)), meta(prompt="rosé café"), tmp_path, "latin")
    raw = latin.png_path.read_bytes()
    assert b"iTXtparameters\x00" in raw and b"tEXtparameters" not in raw
    assert read_metadata(latin.png_path).prompt == "rosé café"


def test_read_metadata_falls_back_to_parameters(tmp_path: Path) -> None:
    from PIL.PngImagePlugin import PngInfo

    m = meta(prompt="郁金香")
    info = PngInfo()
    info.add_itxt("parameters", m.parameters_text())
    path = tmp_path / "a1111.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    assert read_metadata(path) == m

    bare = tmp_path / "bare.png"
    Image.new("RGB", (8, 8)).save(bare)
    with pytest.raises(ValueError, match="no generation metadata"):
        read_metadata(bare)


def test_atomic_write_replaces_and_leaves_no_temp_files(tmp_path: Path) -> None:
    big = noise(128)
    first = save_image(big, meta(seed=1), tmp_path, "same")
    second = save_image(Image.new("RGB", (16, 16), "white"), meta(seed=2), tmp_path, "same")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.json", "same.png"]
    assert second.bytes < first.bytes
    assert second.png_path.stat().st_size == second.bytes  # no tail of the old, larger file
    with Image.open(second.png_path) as img:
        img.load()
        assert img.size == (16, 16)
    assert read_metadata(second.png_path).seed == 2
    assert json.loads(second.json_path.read_text(encoding="utf-8"))["seed"] == 2


def test_failed_write_cleans_up_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import imaging.output as output

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(output.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        save_image(Image.new("RGB", (8, 8)), meta(), tmp_path, "x")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("stem", ["../x", "a/b", "a\\b", ".hidden", "", "..", "a b", "x" * 101, "名"])
def test_bad_stems_are_rejected(tmp_path: Path, stem: str) -> None:
    with pytest.raises(ValueError, match="stem"):
        save_image(Image.new("RGB", (8, 8)), meta(), tmp_path / "d", stem)
    assert not (tmp_path / "x.png").exists()


def test_symlink_escape_is_rejected(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    inside = tmp_path / "inside"
    inside.mkdir()
    (inside / "evil.png").symlink_to(outside / "evil.png")
    with pytest.raises(ValueError, match="outside"):
        save_image(Image.new("RGB", (8, 8)), meta(), inside, "evil")
    assert not (outside / "evil.png").exists()


def test_make_stem_produces_valid_stems(tmp_path: Path) -> None:
    stem = make_stem("../job 7", 0, "种子")
    assert stem == "-job-7_0_-"
    save_image(Image.new("RGB", (8, 8)), meta(), tmp_path, stem)
    assert make_stem() == "image"
    assert len(make_stem("a" * 300)) == 100


def test_image_directory_layout(tmp_path: Path) -> None:
    when = datetime(2025, 3, 9, 23, 30, tzinfo=timezone(timedelta(hours=-5)))  # 04:30 UTC on the 10th
    assert image_directory(tmp_path, when) == tmp_path / "images" / "2025" / "03" / "10"
    assert image_directory(tmp_path, datetime(2024, 12, 1, 1, 0)) == tmp_path / "images" / "2024" / "12" / "01"
    before = datetime.now(UTC)
    parts = image_directory(tmp_path).parts[-3:]
    after = datetime.now(UTC)  # a run that crosses midnight UTC may see either day
    assert parts in {(f"{d:%Y}", f"{d:%m}", f"{d:%d}") for d in (before, after)}


# ---- fitting under a limit --------------------------------------------------------------


def test_small_png_is_returned_unchanged(tmp_path: Path) -> None:
    saved = save_image(Image.new("RGB", (64, 64), "red"), meta(), tmp_path, "small")
    enc = fit_to_limit(saved.png_path, DISCORD_DEFAULT_FILE_LIMIT)
    assert isinstance(enc, EncodedImage)
    assert enc.data == saved.png_path.read_bytes()
    assert (enc.format, enc.filename_suffix, enc.quality, enc.width, enc.height) == ("png", ".png", None, 64, 64)


def test_in_memory_image_becomes_png_with_parameters() -> None:
    enc = fit_to_limit(Image.new("RGB", (32, 32), "blue"), 1_000_000, parameters=meta().parameters_text())
    assert enc.format == "png"
    with Image.open(io.BytesIO(enc.data)) as img:
        assert img.text["parameters"] == meta().parameters_text()  # type: ignore[attr-defined]


def test_noisy_image_is_reencoded_under_limit(noisy_png: Path) -> None:
    assert noisy_png.stat().st_size > 2_500_000
    limit = 400_000
    enc = fit_to_limit(noisy_png, limit)
    assert enc.format in ("webp", "jpeg")
    assert enc.filename_suffix == {"webp": ".webp", "jpeg": ".jpg"}[enc.format]
    assert len(enc.data) <= limit
    assert enc.quality in (WEBP_QUALITIES if enc.format == "webp" else JPEG_QUALITIES)
    with Image.open(io.BytesIO(enc.data)) as img:
        assert img.format == {"webp": "WEBP", "jpeg": "JPEG"}[enc.format]
        assert img.size == (enc.width, enc.height)
    assert MIN_LONG_SIDE <= max(enc.width, enc.height) <= 1024


def test_highest_fitting_quality_is_chosen() -> None:
    img = noise(128, seed=3)
    sizes = {}
    for q in WEBP_QUALITIES:
        buf = io.BytesIO()
        img.save(buf, "WEBP", quality=q)
        sizes[q] = len(buf.getvalue())
    limit = (sizes[80] + sizes[85]) // 2  # 85 is just too big, 80 fits (before metadata)
    enc = fit_to_limit(img, limit, formats=("webp",))
    assert (enc.format, enc.quality, enc.width) == ("webp", 80, 128)


def test_downscales_when_no_quality_fits() -> None:
    img = noise(512, seed=1)
    limit = 60_000  # JPEG q50 of 512² noise is ~110 kB
    enc = fit_to_limit(img, limit, formats=("jpeg",))
    assert enc.format == "jpeg" and len(enc.data) <= limit
    assert MIN_LONG_SIDE <= enc.width < 512 and enc.width == enc.height


def test_absurd_limit_raises_at_the_size_floor(tmp_path: Path) -> None:
    # Documented rule: shrink in 0.85 steps down to a 256 px long side, then give up.
    path = tmp_path / "n.png"
    noise(512, seed=4).save(path, compress_level=1)
    with pytest.raises(ValueError, match=r"cannot fit .*2000 bytes.*256x256.*256px"):
        fit_to_limit(path, 2_000)


def test_png_only_downscales_png() -> None:
    enc = fit_to_limit(noise(512, seed=2), 250_000, formats=("png",))
    assert enc.format == "png" and len(enc.data) <= 250_000 and enc.width < 512


def test_rgba_to_jpeg_is_flattened_onto_white() -> None:
    rgba = Image.new("RGBA", (300, 200), (255, 0, 0, 0))  # fully transparent red
    rgba.paste((0, 0, 255, 255), (0, 0, 100, 200))  # opaque blue stripe
    enc = fit_to_limit(rgba, 1_000_000, formats=("jpeg",))
    assert enc.format == "jpeg" and enc.filename_suffix == ".jpg"
    with Image.open(io.BytesIO(enc.data)) as img:
        assert img.mode == "RGB"
        r, g, b = img.getpixel((250, 100))  # type: ignore[misc]
        assert min(r, g, b) > 240  # white, not black
        r, g, b = img.getpixel((50, 100))  # type: ignore[misc]
        assert b > 200 and r < 40


def test_palette_image_to_jpeg_works() -> None:
    enc = fit_to_limit(Image.new("P", (64, 64), 3), 1_000_000, formats=("jpeg",))
    assert enc.format == "jpeg"


@pytest.mark.parametrize("fmt", ["webp", "jpeg"])
def test_lossy_output_keeps_parameters(tmp_path: Path, fmt: str) -> None:
    m = meta(prompt="牡丹, peony")
    saved = save_image(noise(128), m, tmp_path, "n")
    enc = fit_to_limit(saved.png_path, 40_000, formats=(fmt,))
    assert enc.format == fmt
    out = tmp_path / f"out{enc.filename_suffix}"
    out.write_bytes(enc.data)
    assert read_metadata(out) == m  # via EXIF UserComment


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="positive"):
        fit_to_limit(Image.new("RGB", (8, 8)), 0)
    with pytest.raises(ValueError, match="unknown format"):
        fit_to_limit(Image.new("RGB", (8, 8)), 100, formats=("gif",))
