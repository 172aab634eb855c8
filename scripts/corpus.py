"""A synthetic news corpus of any size: 2-8 KB wire stories on several topics, deterministic
per seed. Written for feeds' benchmarks; the sentences are templates filled at random.

Like a real wire day, most events get one report and some get two to four from different
sources: they share the event's people, place and venue, and differ in wording and order."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

PLACES = {
    "syria": ["Damascus", "Aleppo", "Idlib", "Homs", "Latakia", "Deir ez-Zor", "Raqqa"],
    "gaza": ["Gaza City", "Rafah", "Khan Younis", "Deir al-Balah", "Jabalia", "Cairo", "Doha"],
    "ukraine": ["Kyiv", "Istanbul", "Geneva", "Riyadh", "Moscow", "Kharkiv", "Odesa"],
    "other": ["Nairobi", "Lima", "Oslo", "Hanoi", "Accra", "Quito", "Tbilisi"],
}
SUBJECTS = {
    "syria": ["Syrian officials", "the Syrian government", "Kurdish-led authorities",
              "aid agencies in Syria", "the transitional government in Damascus"],
    "gaza": ["Hamas officials", "Qatari and Egyptian mediators", "Israeli negotiators",
             "aid groups in Gaza", "the Palestinian health ministry"],
    "ukraine": ["Ukrainian negotiators", "Russian and Ukrainian delegations",
                "Turkish mediators", "the Kremlin", "officials in Kyiv"],
    "other": ["the city council", "regional authorities", "the finance ministry",
              "local farmers", "the national weather service"],
}
ACTIONS = {
    "syria": ["agreed a timetable to reopen schools in {place}",
              "pledged funds to repair water networks around {place}",
              "announced that families would return to districts of {place}",
              "said talks on the constitution would resume in {place}"],
    "gaza": ["proposed extending the truce by two weeks, officials in {place} said",
             "said aid convoys were waiting at the crossing near {place}",
             "discussed a phased release of hostages and prisoners in {place}",
             "warned that hospitals in {place} were running out of fuel"],
    "ukraine": ["agreed to exchange prisoners of war after talks in {place}",
                "presented written proposals for a ceasefire in {place}",
                "said the return of children would be discussed in {place}",
                "held a second round of peace talks in {place}"],
    "other": ["approved a new budget for roads around {place}",
              "opened a market hall in the centre of {place}",
              "forecast heavy rain over {place} for the weekend",
              "said the harvest near {place} was the best in a decade"],
}
FILLER = [
    "The statement gave no timetable for the next steps.",
    "Officials declined to comment further on the details.",
    "Residents said they hoped the decision would bring some relief.",
    "Analysts said the move reflected months of quiet diplomacy.",
    "A spokesperson said more information would be published next week.",
    "The announcement came after a long meeting that ran late into the night.",
    "Critics said the plan did not go far enough.",
    "Several delegations said they would study the proposal carefully.",
]
SYLLABLES = ["ka", "mir", "lo", "sa", "den", "ri", "ha", "tor", "vel", "an", "zu", "bek", "ol",
             "mar", "tin", "sha", "ren", "ko", "li", "dar"]
SOURCES = ["Wire One", "Levant Report", "Gulf Wire", "Eastern Desk", "Nile Desk", "City Post"]
REPORTERS = ["Ana Costa", "Omar Fayed", "Mia Lund", "Ravi Menon", "Lena Vogt", "Tariq Aziz"]
VENUES = ["Hall", "Centre", "Palace", "Conference Centre", "Hotel", "Chamber"]
ROLES = ["a teacher", "a shopkeeper", "a local official", "a doctor", "an engineer",
         "a student", "a driver", "a council member", "a nurse", "a lawyer"]
CLAIMS = ["the roads were still blocked", "prices had doubled since the spring",
          "the water supply had been cut twice this month", "many had already left",
          "the schools would reopen soon", "nobody had explained the plan to them",
          "the clinic had run out of medicine", "the power came back in the evening"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


@dataclass(frozen=True)
class Story:
    name: str
    topic: str
    event: int  # the reports of one event share it: what same-event grouping should find
    text: str


@dataclass(frozen=True)
class Event:
    """What the reports of one event share: where, who, and the few words only it uses."""
    number: int
    topic: str
    place: str
    subject: str
    action: str
    cast: tuple[str, ...]
    venue: str
    count: int
    day: str


def name(rng: random.Random) -> str:
    """A made-up person's name: stories differ by who is in them, as real ones do."""
    return f"{word(rng)} {word(rng)}"


def word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def event(rng: random.Random, number: int) -> Event:
    topic = rng.choice(list(PLACES))
    place = rng.choice(PLACES[topic])
    return Event(number, topic, place, rng.choice(SUBJECTS[topic]),
                 rng.choice(ACTIONS[topic]).format(place=place),
                 tuple(name(rng) for _ in range(3)), f"{word(rng)} {rng.choice(VENUES)}",
                 rng.randint(12, 900), rng.choice(DAYS))


def report(rng: random.Random, happening: Event, number: int, source: str) -> Story:
    """One source's report of the event: its own title, lead and order, the event's facts."""
    e = happening
    lead_person, *others = e.cast
    subject = f"{e.subject[0].upper()}{e.subject[1:]}"
    title = rng.choice([
        f"{subject} {e.action.split(',')[0]}",
        f"{lead_person} says {e.subject} {e.action.split(',')[0]}",
        f"At the {e.venue}, {e.subject} {e.action.split(',')[0]}",
    ])
    lead = (f"{e.place.upper()} ({source}) - {subject} {e.action} on {e.day}, "
            f"{lead_person} told reporters at the {e.venue}.")
    facts = [
        f"{rng.choice(others)} said {e.count} people had been waiting for the decision "
        f"at the {e.venue}.",
        f"{lead_person} and {rng.choice(others)} met twice before the announcement on {e.day}.",
        f"The {e.venue} in {e.place} was closed to the public during the meeting.",
        f"{rng.choice(others)} told {source} that {e.count} families would be the first "
        f"to benefit.",
    ]
    paragraphs = [lead]
    target = rng.randint(2000, 8000)
    size = len(title) + len(lead)
    while size < target:
        # the event's facts, then details of this report's own (people and places nobody
        # else mentions), now and then the topic's background: different events on one
        # topic share words, but far fewer than two reports of the same event do
        sentence = (f"{rng.choice(facts)} {name(rng)}, {rng.choice(ROLES)} in the "
                    f"{word(rng)} district, said {rng.choice(CLAIMS)}. {rng.choice(FILLER)}")
        if rng.random() < 0.3:
            other = rng.choice(SUBJECTS[e.topic])
            action = rng.choice(ACTIONS[e.topic]).format(place=rng.choice(PLACES[e.topic]))
            sentence += f" {other[0].upper()}{other[1:]} {action}."
        paragraphs.append(sentence)
        size += len(sentence) + 2
    text = f"{title}\n\nBy {rng.choice(REPORTERS)}\n\n" + "\n\n".join(paragraphs) + "\n"
    return Story(f"story-{number:06d}.txt", e.topic, e.number, text)


def story(rng: random.Random, number: int) -> Story:
    """A single report of a new event."""
    return report(rng, event(rng, number), number, rng.choice(SOURCES))


def stories(count: int, seed: int = 7) -> Iterator[Story]:
    """`count` reports, numbered in order. Half the events have one report, the rest two to
    four from different sources, each within the next few files (as a wire day arrives)."""
    rng = random.Random(seed)
    upcoming: dict[int, list[tuple[Event, str]]] = {}
    number, events = 0, 0
    while number < count:
        due = upcoming.pop(number, None)
        if due:
            happening, source = due.pop()
            if due:
                upcoming.setdefault(number + rng.randint(1, 6), []).extend(due)
        else:
            happening = event(rng, events)
            events += 1
            size = rng.choices([1, 2, 3, 4], weights=[50, 25, 15, 10])[0]
            sources = rng.sample(SOURCES, size)
            source = sources.pop()
            later = [(happening, s) for s in sources]
            if later:
                upcoming.setdefault(number + rng.randint(1, 6), []).extend(later)
        yield report(rng, happening, number, source)
        number += 1
