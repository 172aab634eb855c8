"""The double opt-in mail: a Jinja2 text and HTML message with the signed, expiring link to
`/confirm/<token>`, built by the same message builder as digests and handed to the same outbox
(SMTP or the Maildir). A transactional message, not a list message: it has a List-Id (filters
and the address's owner can tell where it came from) and no List-Unsubscribe, since nothing is
subscribed yet."""

from __future__ import annotations

import logging
from datetime import timedelta
from email.utils import format_datetime, formataddr, make_msgid

import css_inline

from feeds.digest.render import MailWriter, header_text
from feeds.mail import MessageTemplate, Outgoing, Personal, open_outbox
from feeds.store.signups import Signup
from feeds.tokens import confirm_token

log = logging.getLogger(__name__)


class ConfirmationMailer(MailWriter):
    """Builds and sends confirmation mails; `send` is what the web app's sign-up form calls."""

    def confirm_url(self, signup: Signup) -> str:
        token = confirm_token(self.secret, signup.id, signup.email)
        return f"{self.config.site.base_url}confirm/{token}"

    def message(self, signup: Signup) -> Outgoing:
        site = self.config.site
        titles = [self.config.topics[slug].title for slug in signup.topics
                  if slug in self.config.topics]
        expires = self.clock() + timedelta(hours=self.config.signup.confirm_hours)
        confirm_url = self.confirm_url(signup)
        decline_url = confirm_url.replace("/confirm/", "/decline/", 1)
        context = {"site": site, "email": signup.email, "topics": titles,
                   "schedule": signup.schedule, "confirm_url": confirm_url,
                   "hours": round(self.config.signup.confirm_hours), "expires": expires,
                   "subscribe_url": f"{site.base_url}subscribe", "decline_url": decline_url}
        html = css_inline.inline(
            self.templates.get_template("confirm_mail.html.j2").render(context))
        text = self.templates.get_template("confirm_mail.txt.j2").render(context)
        mail = self.config.mail
        values = Personal(to=signup.email, date=format_datetime(self.clock()),
                          message_id=make_msgid(idstring="confirm", domain=self.host),
                          url=confirm_url)
        template = MessageTemplate(
            headers=(
                ("From", formataddr((header_text(mail.from_name), mail.from_address))),
                ("To", signup.email),
                ("Subject", header_text(f"{site.title}: confirm your subscription")),
                ("Date", values.date),
                ("Message-ID", values.message_id),
                ("List-Id", f"{header_text(site.title)} sign-ups <signup.{self.host}>"),
                # "unsubscribing" from a sign-up one did not ask for declines it (RFC 8058)
                ("List-Unsubscribe", f"<{decline_url}>"),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
                ("Auto-Submitted", "auto-generated")),
            text=text, html=html, placeholders=values)
        return Outgoing(mail.from_address, signup.email, template.build(values).as_bytes())

    def send(self, signup: Signup) -> None:
        """Send the confirmation for `signup` now (a DeliveryError when the server refuses)."""
        outbox = open_outbox(self.config.smtp, self.config.paths.state)
        try:
            outbox.send(self.message(signup))
        finally:
            outbox.close()
        log.info("confirmation mailed signup=%d topics=%s", signup.id, ",".join(signup.topics))
