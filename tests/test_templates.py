"""Every template in templates/ renders, and autoescaping is on for HTML."""

from __future__ import annotations

import shutil

from feeds.config import BUILTIN_TEMPLATES
from feeds.render import environment
from tests.conftest import ROOT, Env


def test_every_template_is_used_by_a_published_page(env: Env) -> None:
    for path in (ROOT / "samples" / "inbox").iterdir():
        shutil.copy2(path, env.inbox / path.name)
    env.feeds("ingest")
    pages = [p.read_text(encoding="utf-8") for p in env.public.rglob("*.html")]
    assert pages
    names = sorted(p.name for p in BUILTIN_TEMPLATES.iterdir() if p.suffix == ".html")
    assert names == ["_item.html", "_items.html", "article.html", "base.html", "index.html",
                     "topic.html", "unsubscribe.html"]
    assert all(page.startswith("<!doctype html>") for page in pages)
    assert any("Also reported by" in page for page in pages)


def test_autoescaping_is_on() -> None:
    env = environment(BUILTIN_TEMPLATES)
    html = env.from_string("{{ value }}").render(value="<script>x</script> & y")
    assert html == "&lt;script&gt;x&lt;/script&gt; &amp; y"
