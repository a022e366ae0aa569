"""`python -m bot` starts the Discord bot, like `huayi run`."""

from .cli import run_main

run_main()
