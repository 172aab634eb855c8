"""What every subscription page shares (sign-up, confirmation, preferences, unsubscribe):
the templates, the site's header and topic menu, the topic and schedule choices, answers that
are never cached."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import HTMLResponse, Response

from feeds.config import Config
from feeds.cron import next_runs
from feeds.render import display_date, environment
from feeds.urls import topic_page_url


def default_schedule(config: Config) -> str:
    """The schedule a sign-up gets when it names none: the first configured."""
    return next(iter(config.digests), "")


def utc_now() -> datetime:
    return datetime.now(UTC)


class Pages:
    """What every subscription page shares: the templates, the site's context, answers."""

    def __init__(self, config: Config) -> None:
        self.config = config
        assert config.paths.templates is not None
        self.templates = environment(config.paths.templates)

    def html(self, template: str, status: int = 200, **context: Any) -> Response:
        """A page of the site's own look: its header and topic menu, never cached."""
        base = self.config.site.base_url
        nav = [{"slug": slug, "title": t.title, "page_url": topic_page_url(base, slug)}
               for slug, t in self.config.topics.items()]
        page = self.templates.get_template(template).render(
            site=self.config.site, feeds=[], topics=nav, **context)
        return HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store"})

    def message(self, status: int, heading: str, text: str, *, form: str | None = None,
                button: str | None = None, manage: str | None = None,
                again: str | None = None) -> Response:
        """A short page (confirm.html): a heading, a line, and the links or button given."""
        return self.html("confirm.html", status, heading=heading, text=text, form=form,
                         button=button, manage=manage, again=again)

    def topic_choices(self, chosen: set[str]) -> list[dict[str, Any]]:
        return [{"slug": slug, "title": t.title, "chosen": slug in chosen}
                for slug, t in self.config.topics.items()]

    def schedule_choices(self, chosen: str) -> list[dict[str, Any]]:
        upcoming = self.next_digests()
        return [{"name": name, "chosen": name == chosen, "next": upcoming[name]}
                for name in self.config.digests]

    def next_digests(self) -> dict[str, str]:
        """When each schedule sends next, as a reader reads it: "4 December 2026, 07:00 UTC"
        in the schedule's own time zone ("" for one that never runs again)."""
        shown = {}
        for name, when in next_runs(self.config.digests, utc_now()).items():
            local = when.astimezone(ZoneInfo(self.config.digests[name].timezone)) if when else None
            shown[name] = f"{display_date(local)}, {local:%H:%M %Z}" if local else ""
        return shown

    def default_schedule(self) -> str:
        return default_schedule(self.config)
