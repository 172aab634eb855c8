"""What a news page carries around its story: share bars, newsletter prompts, "Related" and
"Most read" lists, cookie notices. Found by the names pages give them (class, id, role,
aria-label) and by their words; both kinds are short, so a paragraph of the story is safe.
"""

from __future__ import annotations

import re

import lxml.html

# Words of a class or id (split at "-", "_" and spaces) that name a block around the story.
_NAMES = frozenset("""
share sharing sharebar social newsletter newsletters subscribe subscription signup
related recirculation recommended recommendations promo promotion advert advertisement ads
sponsored outbrain taboola cookie cookies consent gdpr paywall breadcrumb breadcrumbs
mostread popular trending comments
""".split())
_NAME_PAIRS = frozenset({("read", "more"), ("most", "read"), ("more", "stories"),
                         ("sign", "up"), ("follow", "us"), ("you", "may")})
_SPLIT = re.compile(r"[-_\s]+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_KEEP = frozenset({"html", "body", "article", "main"})

# A block made only of one of these is not the story's ("Share this article", "We use
# cookies to ...", "Subscribe to our newsletter for more Syria news!").
_PROMPT = re.compile(
    r"^(?:share (?:this|on)\b|follow us\b|like us on\b|join us on\b"
    r"|(?:subscribe|sign up|register)\b.{0,80}\b(?:newsletter|updates|alerts|inbox|free)\b"
    r"|get (?:our|the)\b.{0,40}\bnewsletter\b|(?:our|the)\b.{0,40}\bnewsletter\b.{0,40}\binbox"
    r"|we use cookies\b|this (?:site|website) uses cookies\b|(?:accept|manage) (?:all )?cookies"
    r"|(?:read|see) (?:more|also)\s*[:|»›→-]|(?:related|also read)\s*:"
    r"|advertisement$|sponsored content$)",
    re.I,
)
# A heading that opens a list of other stories: the heading and the list go.
_LIST_HEADING = re.compile(
    r"^(?:related(?: (?:articles|stories|news|coverage|content|reading|topics))?"
    r"|read more|more (?:stories|news|on this(?: story)?|from [\w .&'’-]{1,40})"
    r"|most (?:read|popular|viewed|shared)|(?:you )?(?:may|might) also (?:like|be interested in)"
    r"|recommended(?: for you)?"
    r"|trending(?: now)?|popular(?: now)?|top stories|latest (?:news|stories)|in other news"
    r"|see also|editor'?s picks)\s*:?$",
    re.I,
)
_MAX_WORDS = 30


def _name_words(element: lxml.html.HtmlElement) -> list[str]:
    names = " ".join(str(element.get(attr) or "") for attr in ("class", "id", "role",
                                                               "aria-label", "data-component"))
    return [w.lower() for w in _SPLIT.split(_CAMEL.sub(" ", names)) if w]


def is_named_boilerplate(element: lxml.html.HtmlElement, page_chars: int) -> bool:
    """Does the element's class, id, role or label say it is a share bar, a newsletter box,
    a related list or a cookie notice? The story's own containers are never dropped: nor is
    a wrapper named for what it also holds ("post-with-share") that holds the story, that is
    an <article> or <main>, or half the page's text."""
    if element.tag in _KEEP:
        return False
    words = _name_words(element)
    if not words:
        return False
    pairs = zip(words, words[1:], strict=False)
    if any(w in _NAMES for w in words) or any(pair in _NAME_PAIRS for pair in pairs):
        if any(True for _ in element.iter("article", "main")):
            return False
        return len(element.text_content()) * 2 < page_chars
    return False


def is_prompt(text: str) -> bool:
    """A short block asking the reader to share, subscribe, follow, or accept cookies."""
    return len(text.split()) <= _MAX_WORDS and bool(_PROMPT.match(text))


def is_list_heading(text: str) -> bool:
    """"Related", "Most read", "More from Levant Report": the title of a list of links."""
    return len(text.split()) <= 8 and bool(_LIST_HEADING.match(text))
