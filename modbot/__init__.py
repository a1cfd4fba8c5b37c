"""modbot: moderation for comment sections — Detoxify scores, evasion-proof hate patterns, YAML rules."""

__version__ = "0.1.0"
