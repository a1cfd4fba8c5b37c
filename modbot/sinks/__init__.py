"""Where decisions go: the platform's webhook, WordPress's REST API, or the log."""

from __future__ import annotations

import aiohttp

from modbot.config import SinkSettings
from modbot.sinks.base import Sink


def build_sink(settings: SinkSettings, session: aiohttp.ClientSession) -> Sink:
    """The sink named by `sink.type`. Secrets are read here, so a missing one fails at start."""
    if settings.type == "webhook":
        from modbot.sinks.webhook import WebhookSink
        return WebhookSink(settings.webhook, session)
    if settings.type == "wordpress":
        from modbot.sinks.wordpress import WordPressSink
        wp: Sink = WordPressSink(settings.wordpress, session)
        return wp
    from modbot.sinks.webhook import LogSink
    return LogSink()
