"""The composition root: the CLI, the app that wires settings -> storage -> sources -> chats,
and the long-running bot. The only package that may import every other one."""
