"""The query language and its matchers: parse, evaluate, and the indexed matcher over many
subscriptions (its inner loops in C, `_gather.c`, with the Python reference in `gather.py`)."""
