"""Full-size SDXL on a GPU: a plain diffusers fp16 pipeline against Huayi's local backend.

The model is SDXL base 1.0's architecture (UNet, both CLIP text encoders, VAE) built from
the official component configs with random weights, so FLOPs and memory match the real
model; no hub download is needed. It is saved once with `save_pretrained` and every
configuration loads it with `from_pretrained`, as production does.

Configurations:
- baseline: `StableDiffusionXLPipeline.from_pretrained(dir, torch_dtype=float16).to("cuda")`,
  called with defaults, as a user would write it;
- huayi: `LocalSDXLBackend` exactly as `huayi draw` / the bot run it (float16, SDPA,
  warm-up at load, one generator per image);
- huayi-fp16-vae: the same with an fp16-safe VAE (IMAGE_VAE), which skips the float32
  upcast the stock SDXL VAE needs for decoding.

Workload: 1024×1024, `--steps` (30) steps, CFG, batch 1 and 4. Prints s/image (median of
`--runs`), UNet it/s, peak VRAM and cold start (load + warm-up). Without CUDA it says so
and exits 0.

    python benchmarks/sdxl_gpu.py [--runs 3] [--steps 30] [--json results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

UNET = dict(
    sample_size=128,
    in_channels=4,
    out_channels=4,
    block_out_channels=(320, 640, 1280),
    layers_per_block=2,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    transformer_layers_per_block=(1, 2, 10),
    attention_head_dim=(5, 10, 20),
    cross_attention_dim=2048,
    use_linear_projection=True,
    addition_embed_type="text_time",
    addition_time_embed_dim=256,
    projection_class_embeddings_input_dim=2816,
    norm_num_groups=32,
)
VAE = dict(
    block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    latent_channels=4,
    layers_per_block=2,
    sample_size=1024,
    scaling_factor=0.13025,
    force_upcast=True,
)
TEXT_L = dict(
    vocab_size=49408, max_position_embeddings=77, hidden_size=768, intermediate_size=3072,
    num_attention_heads=12, num_hidden_layers=12, hidden_act="quick_gelu", projection_dim=768,
    bos_token_id=49406, eos_token_id=49407, pad_token_id=1,
)
TEXT_G = dict(
    vocab_size=49408, max_position_embeddings=77, hidden_size=1280, intermediate_size=5120,
    num_attention_heads=20, num_hidden_layers=32, hidden_act="gelu", projection_dim=1280,
    bos_token_id=49406, eos_token_id=49407, pad_token_id=1,
)
PROMPT = "a white tree peony in a celadon vase, asymmetric Chinese arrangement, soft window light"
NEGATIVE = "blurry, lowres, watermark"


def build_full_sdxl(directory: Path, fp16_vae_dir: Path) -> None:
    """SDXL base 1.0's architecture with random weights, saved in float16."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from imaging.clip_tokenizer import load_clip_tokenizer

    torch.manual_seed(0)
    with torch.device("cuda"):
        unet = UNet2DConditionModel(**UNET).half()
        vae = AutoencoderKL(**VAE).half()
        text_l = CLIPTextModel(CLIPTextConfig(**TEXT_L)).half()
        text_g = CLIPTextModelWithProjection(CLIPTextConfig(**TEXT_G)).half()
    tokenizer = load_clip_tokenizer(directory.parent / "clip")
    tokenizer_2 = load_clip_tokenizer(directory.parent / "clip")
    tokenizer_2.pad_token = "!"
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="leading", steps_offset=1
    )
    pipe = StableDiffusionXLPipeline(
        vae=vae, text_encoder=text_l, text_encoder_2=text_g, tokenizer=tokenizer, tokenizer_2=tokenizer_2,
        unet=unet, scheduler=scheduler,
    )
    pipe.save_pretrained(directory)
    # The fp16-fix VAE has the same architecture; its weights stay finite in float16, so it ships force_upcast=False.
    vae.register_to_config(force_upcast=False)
    vae.save_pretrained(fp16_vae_dir)
    params = sum(p.numel() for p in unet.parameters())
    print(f"built SDXL-size model: UNet {params / 1e9:.2f} B parameters")
    del pipe, unet, vae, text_l, text_g
    torch.cuda.empty_cache()


def _time_calls(call: Any, batch: int, runs: int, steps: int) -> dict[str, float]:
    import torch

    seconds: list[float] = []
    unet_rates: list[float] = []
    for _ in range(runs):
        stamps: list[float] = []
        torch.cuda.synchronize()
        start = time.perf_counter()
        call(batch, stamps)
        torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
        if len(stamps) >= 2:
            unet_rates.append((len(stamps) - 1) / (stamps[-1] - stamps[0]))
    return {
        "batch": batch,
        "s_per_image": statistics.median(seconds) / batch,
        "s_per_call": statistics.median(seconds),
        "unet_it_s": statistics.median(unet_rates) if unet_rates else float("nan"),
    }


def run_baseline(directory: Path, batches: list[int], runs: int, steps: int, cfg: float) -> dict[str, Any]:
    import torch
    from diffusers import StableDiffusionXLPipeline

    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    pipe = StableDiffusionXLPipeline.from_pretrained(directory, torch_dtype=torch.float16).to("cuda")
    pipe.set_progress_bar_config(disable=True)

    def call(batch: int, stamps: list[float]) -> None:
        def on_step(p: Any, i: int, t: Any, kw: dict[str, Any]) -> dict[str, Any]:
            stamps.append(time.perf_counter())
            return kw

        pipe(PROMPT, negative_prompt=NEGATIVE, num_images_per_prompt=batch, num_inference_steps=steps,
             guidance_scale=cfg, height=1024, width=1024, callback_on_step_end=on_step)

    call(1, [])  # first image: the cold start a member would wait for
    cold = time.perf_counter() - start
    rows = []
    for batch in batches:
        call(batch, [])
        rows.append(_time_calls(call, batch, runs, steps))
    peak = torch.cuda.max_memory_allocated() / 2**30
    del pipe
    torch.cuda.empty_cache()
    return {"config": "baseline", "cold_start_s": cold, "peak_vram_gib": peak, "rows": rows}


def run_huayi(name: str, directory: Path, vae: Path | None, batches: list[int], runs: int, steps: int, cfg: float) -> dict[str, Any]:
    import torch

    from imaging.backends.local_sdxl import LocalSDXLBackend, LocalSDXLConfig
    from imaging.request import GenerationRequest

    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    backend = LocalSDXLBackend(
        LocalSDXLConfig(model=str(directory), device="cuda", vae=str(vae) if vae else None, max_batch=max(batches))
    )

    def call(batch: int, stamps: list[float]) -> None:
        request = GenerationRequest(PROMPT, negative_prompt=NEGATIVE, steps=steps, cfg=cfg, count=batch, seed=1)
        asyncio.run(backend.generate([request], lambda event: stamps.append(time.perf_counter())))

    call(1, [])  # includes load and warm-up: the cold start
    cold = time.perf_counter() - start
    rows = []
    for batch in batches:
        call(batch, [])
        rows.append(_time_calls(call, batch, runs, steps))
    peak = torch.cuda.max_memory_allocated() / 2**30
    asyncio.run(backend.aclose())
    return {"config": name, "cold_start_s": cold, "peak_vram_gib": peak, "rows": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--cfg", type=float, default=6.0)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per batch size (median reported)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--configs", nargs="+", default=["baseline", "huayi", "huayi-fp16-vae"])
    parser.add_argument("--work-dir", type=Path, default=None, help="where the random-weight model is saved")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    try:
        import torch
    except ImportError:
        print("torch is not installed; skipping the SDXL GPU benchmark")
        return 0
    if not torch.cuda.is_available():
        print("no CUDA GPU here; skipping the SDXL GPU benchmark (it needs one)")
        return 0
    import diffusers

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="huayi-sdxl-"))
    model_dir, vae_dir = work / "sdxl-random", work / "vae-fp16"
    device = torch.cuda.get_device_name(0)
    print(f"device {device}; torch {torch.__version__}; diffusers {diffusers.__version__}")
    print(f"workload 1024x1024, {args.steps} steps, CFG {args.cfg}, batches {args.batches}, median of {args.runs}")
    if not (model_dir / "model_index.json").is_file():
        started = time.perf_counter()
        build_full_sdxl(model_dir, vae_dir)
        print(f"built and saved in {time.perf_counter() - started:.0f}s")
    results = []
    for config in args.configs:
        if config == "baseline":
            result = run_baseline(model_dir, args.batches, args.runs, args.steps, args.cfg)
        else:
            vae = vae_dir if config == "huayi-fp16-vae" else None
            result = run_huayi(config, model_dir, vae, args.batches, args.runs, args.steps, args.cfg)
        results.append(result)
        for row in result["rows"]:
            print(
                f"{config:16} batch {row['batch']}: {row['s_per_image']:.3f} s/image, UNet {row['unet_it_s']:.2f} it/s, "
                f"peak {result['peak_vram_gib']:.1f} GiB, cold start {result['cold_start_s']:.1f}s",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps({"device": device, "torch": torch.__version__, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
