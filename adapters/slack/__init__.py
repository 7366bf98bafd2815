"""Slack: Bolt and slack_sdk translated to and from the command layer and the neutral digest."""
