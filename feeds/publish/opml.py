"""OPML 2.0: the list of the site's feeds, for readers that subscribe to many at once."""

from __future__ import annotations

from collections.abc import Sequence
from xml.etree import ElementTree

from feeds.publish.catalog import FeedSpec


def opml(site_title: str, specs: Sequence[FeedSpec]) -> bytes:
    root = ElementTree.Element("opml", version="2.0")
    head = ElementTree.SubElement(root, "head")
    ElementTree.SubElement(head, "title").text = f"{site_title} feeds"
    body = ElementTree.SubElement(root, "body")
    for spec in specs:
        ElementTree.SubElement(body, "outline", type="rss", text=spec.title,
                               title=spec.title, xmlUrl=spec.atom_url, htmlUrl=spec.page_url)
    ElementTree.indent(root)
    text = ElementTree.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{text}\n'.encode()
