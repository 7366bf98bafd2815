"""The command layer: chat commands, platform-neutral, one Command in and one Reply out."""
