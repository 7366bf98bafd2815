"""Ranking by a channel's taste: tf-idf features shared by every channel, a linear model per channel."""
