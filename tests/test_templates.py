"""Every template in templates/ renders, and autoescaping is on for HTML."""

from __future__ import annotations

import shutil

from feeds.config import BUILTIN_TEMPLATES, load_config
from feeds.publish import Publisher
from feeds.render import environment
from feeds.store import Store
from tests.conftest import ROOT, Env


def test_every_template_is_used_by_a_published_page(env: Env) -> None:
    for path in (ROOT / "samples" / "inbox").iterdir():
        shutil.copy2(path, env.inbox / path.name)
    env.feeds("ingest")
    pages = [p.read_text(encoding="utf-8") for p in env.public.rglob("*.html")]
    assert pages
    names = sorted(p.name for p in BUILTIN_TEMPLATES.iterdir() if p.suffix == ".html")
    assert names == ["_forms.html", "_item.html", "_items.html", "article.html", "base.html",
                     "confirm.html", "gone.html", "index.html", "other.html", "preferences.html",
                     "subscribe.html", "topic.html", "unsubscribe.html"]
    assert all(page.startswith("<!doctype html>") for page in pages)
    assert any("Also reported by" in page for page in pages)


def test_autoescaping_is_on() -> None:
    env = environment(BUILTIN_TEMPLATES)
    html = env.from_string("{{ value }}").render(value="<script>x</script> & y")
    assert html == "&lt;script&gt;x&lt;/script&gt; &amp; y"


def test_an_edited_template_shows_from_the_next_publish_on(env: Env) -> None:
    """A running daemon keeps one publisher: an edit to a page template, or to the base it
    extends, shows in the next publish without a restart."""
    shutil.copytree(BUILTIN_TEMPLATES, env.root / "my-templates")
    env.write_config(paths={"inbox": "inbox", "public": "public", "state": "state",
                            "templates": "my-templates"})
    for path in (ROOT / "samples" / "inbox").iterdir():
        shutil.copy2(path, env.inbox / path.name)
    env.feeds("ingest", "--no-publish")
    config = load_config(env.config)
    store = Store.for_config(config)
    try:
        publisher = Publisher(config, store)
        try:
            publisher.publish()
            index = env.public / "index.html"
            assert "Edited base" not in index.read_text(encoding="utf-8")
            base = env.root / "my-templates" / "base.html"
            text = base.read_text(encoding="utf-8")
            base.write_text(text.replace("</body>", "<p>Edited base</p></body>", 1),
                            encoding="utf-8")
            publisher.publish()
            assert "Edited base" in index.read_text(encoding="utf-8")
        finally:
            publisher.close()
    finally:
        store.close()
