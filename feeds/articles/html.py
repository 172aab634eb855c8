"""HTML pages: the title, metadata from <meta>, and the main text (article > main > body)."""

from __future__ import annotations

import re
from datetime import datetime

import lxml.html
from lxml import etree

from feeds.articles import boilerplate, clean
from feeds.articles.text import Meta, parse_text
from feeds.models import Article

_DROP = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "iframe",
         "template", "svg", "button", "select")
_BLOCKS = ("p", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "dd", "dt", "td")
_LIST_ITEMS = ("li", "dd", "dt")
_TAG = re.compile(r"<(p|br|div|h[1-6]|li|figure|article|section|span|a|em|strong|b|i)\b", re.I)


class HTMLError(ValueError):
    pass


def looks_like_html(text: str) -> bool:
    return bool(_TAG.search(text[:20_000]))


def _meta(doc: lxml.html.HtmlElement, *names: str) -> str | None:
    for name in names:
        for attr in ("property", "name", "itemprop"):
            found = doc.xpath(f'//meta[@{attr}="{name}"]/@content')
            if found and str(found[0]).strip():
                return clean.normalize(str(found[0])).strip()
    return None


def _text_of(element: lxml.html.HtmlElement) -> str:
    return clean.normalize(" ".join(element.itertext())).replace("\n", " ").strip()


def html_to_lines(markup: str) -> tuple[lxml.html.HtmlElement, list[str], list[str], str | None]:
    """(document, block lines with '' between blocks, figure captions, first <h1> text)."""
    try:
        doc = lxml.html.document_fromstring(markup)
    except (etree.ParserError, ValueError) as exc:
        raise HTMLError(f"not parseable as HTML: {exc}") from None
    for element in list(doc.iter(*_DROP)):
        if element.getparent() is not None:
            element.drop_tree()
    page_chars = len(doc.text_content())
    for element in list(doc.iter(etree.Element)):
        if (element.getparent() is not None
                and boilerplate.is_named_boilerplate(element, page_chars)):
            element.drop_tree()
    captions = [_text_of(c) for c in doc.iter("figcaption")]
    for caption in list(doc.iter("figcaption")):
        caption.drop_tree()
    h1s = [_text_of(h) for h in doc.iter("h1")]
    h1 = next((h for h in h1s if h), None)
    roots = doc.xpath("//article") or doc.xpath("//main") or doc.xpath("//body") or [doc]
    root = max(roots, key=lambda r: len(_text_of(r)))
    lines: list[str] = []
    blocks = [b for b in root.iter(*_BLOCKS)
              if not any(a.tag in _BLOCKS for a in b.iterancestors())]
    if blocks:
        in_list = False  # the links under a "Related" or "Most read" heading
        for block in blocks:
            text = _text_of(block)
            if boilerplate.is_list_heading(text):
                in_list = True
                continue
            in_list = in_list and block.tag in _LIST_ITEMS
            if text and not in_list and not boilerplate.is_prompt(text):
                lines.extend([text, ""])
    else:
        for element in root.iter("br"):
            element.tail = "\n" + (element.tail or "")
        lines = clean.normalize("\n".join(root.itertext())).split("\n")
    return doc, lines, [c for c in captions if c], h1


def parse_html(text: str, meta: Meta | None = None, received: datetime | None = None
               ) -> list[Article]:
    doc, lines, captions, h1 = html_to_lines(text)
    meta = meta or Meta()
    title_tag = doc.findtext(".//title")
    meta.title = meta.title or _meta(doc, "og:title", "twitter:title", "headline") or h1 or (
        clean.normalize(title_tag).strip() if title_tag and title_tag.strip() else None)
    meta.author = meta.author or _meta(doc, "author", "article:author", "byl", "dc.creator")
    meta.source = meta.source or _meta(doc, "og:site_name", "publisher", "application-name")
    meta.url = meta.url or _meta(doc, "og:url")
    if meta.published is None:
        stamp = _meta(doc, "article:published_time", "datePublished", "date", "pubdate",
                      "dc.date", "DC.date.issued")
        times = doc.xpath("//time/@datetime")
        meta.published = clean.parse_date(stamp or (str(times[0]) if times else None))
    meta.captions.extend(captions)
    # The page usually repeats its title as the <h1>; parse_story drops lines equal to it.
    return parse_text("\n".join(lines), meta, received)
