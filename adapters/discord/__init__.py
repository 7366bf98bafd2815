"""Discord: discord.py translated to and from the command layer and the neutral digest."""
