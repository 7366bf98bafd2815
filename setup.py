"""The one compiled piece: the matcher's inner step (bot/query/_gather.c). Everything else is in
pyproject.toml. `optional`: without a C compiler the install goes on, and bot.query.gather falls back
to its Python reference."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("bot.query._gather", ["bot/query/_gather.c"], optional=True)])
