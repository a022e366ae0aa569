"""A tiny random-weight SDXL pipeline from the real diffusers/transformers classes.

Its UNet, VAE, both CLIP text encoders and the scheduler have SDXL's structure (text_time
conditioning, a 4-block VAE so 1024² maps to 128² latents, 49408-token CLIP vocabulary
from the open_clip BPE file), only with a few channels. It is saved with
`save_pretrained` and loaded back through production's `from_pretrained` path.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["build_tiny_sdxl"]


def build_tiny_sdxl(directory: Path, clip_cache: Path | None = None) -> Path:
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from imaging.clip_tokenizer import load_clip_tokenizer

    torch.manual_seed(0)
    text_config = dict(
        vocab_size=49408,
        max_position_embeddings=77,
        hidden_size=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        hidden_act="gelu",
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=1,
        projection_dim=32,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(**text_config))
    text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(**text_config))
    unet = UNet2DConditionModel(
        sample_size=128,
        block_out_channels=(16, 32, 32),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 2, 4),
        cross_attention_dim=64,  # both encoders' hidden states, concatenated
        transformer_layers_per_block=(1, 1, 1),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=8 * 6 + 32,
        norm_num_groups=8,
        in_channels=4,
        out_channels=4,
    )
    vae = AutoencoderKL(
        block_out_channels=(4, 4, 4, 4),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        norm_num_groups=2,
        layers_per_block=1,
        mid_block_add_attention=False,
        sample_size=1024,
        scaling_factor=0.13025,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="leading",
        steps_offset=1,
    )
    tokenizer = load_clip_tokenizer(clip_cache)
    tokenizer_2 = load_clip_tokenizer(clip_cache)
    tokenizer_2.pad_token = "!"  # OpenCLIP bigG's tokenizer pads with "!", as SDXL's tokenizer_2 does
    pipe = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        unet=unet,
        scheduler=scheduler,
    )
    pipe.save_pretrained(directory)
    return directory
