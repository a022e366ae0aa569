"""Huayi's imaging layer (style templates, prompt enhancement, SDXL backends, queue).

Free of Discord, `bot/` and `rag/`: the bot passes retrieved facts and the glossary in.
"""

__all__: list[str] = []
