"""The terminal as a chat platform: `paperbot command`, `paperbot digest` and the demo."""
