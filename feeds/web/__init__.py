"""HTTP: the ASGI app (`app`), public/ from memory with caching and compression (`static`),
the unsubscribe pages (`unsubscribe`), `/healthz` and `/metrics` (`health`), and the uvicorn
server that runs it all (`server`)."""

from __future__ import annotations

from feeds.web.app import Site
from feeds.web.health import HealthRoutes, health_of
from feeds.web.server import BoundedHeadProtocol, Server, url_of
from feeds.web.static import CONTENT_TYPES, PublicFiles, Resource, StaticResponder, respond
from feeds.web.unsubscribe import MAX_FORM_BYTES, UnsubscribePages

__all__ = [
    "CONTENT_TYPES", "MAX_FORM_BYTES", "BoundedHeadProtocol", "HealthRoutes", "PublicFiles",
    "Resource", "Server", "Site", "StaticResponder", "UnsubscribePages", "health_of",
    "respond", "url_of",
]
