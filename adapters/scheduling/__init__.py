"""The scheduler's clockwork: APScheduler behind the core's `Timer` port."""
