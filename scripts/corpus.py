"""A synthetic news corpus of any size: 2-8 KB wire stories on several topics, deterministic
per seed. Written for feeds' benchmarks; the sentences are templates filled at random."""

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


@dataclass(frozen=True)
class Story:
    name: str
    topic: str
    text: str


def name(rng: random.Random) -> str:
    """A made-up person's name: stories differ by who is in them, as real ones do."""
    def part() -> str:
        return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
    return f"{part()} {part()}"


def story(rng: random.Random, number: int) -> Story:
    topic = rng.choice(list(PLACES))
    cast = [name(rng) for _ in range(3)]
    place = rng.choice(PLACES[topic])
    subject = rng.choice(SUBJECTS[topic])
    action = rng.choice(ACTIONS[topic]).format(place=place)
    title = f"{subject[0].upper()}{subject[1:]} {action.split(',')[0]} (report {number})"
    lead = (f"{place.upper()} ({rng.choice(SOURCES)}) - {subject[0].upper()}{subject[1:]} "
            f"{action} on {rng.choice(['Monday', 'Tuesday', 'Wednesday', 'Thursday'])}.")
    paragraphs = [lead]
    target = rng.randint(2000, 8000)
    size = len(title) + len(lead)
    while size < target:
        other = rng.choice(SUBJECTS[topic])
        action = rng.choice(ACTIONS[topic]).format(place=rng.choice(PLACES[topic]))
        sentence = (f"{other[0].upper()}{other[1:]} {action}. "
                    f"{rng.choice(FILLER)} {rng.choice(cast)} said {rng.randint(2, 900)} "
                    f"people were affected. {rng.choice(FILLER)}")
        paragraphs.append(sentence)
        size += len(sentence) + 2
    text = f"{title}\n\nBy {rng.choice(['Ana Costa', 'Omar Fayed', 'Mia Lund'])}\n\n" + \
        "\n\n".join(paragraphs) + "\n"
    return Story(f"story-{number:06d}.txt", topic, text)


def stories(count: int, seed: int = 7) -> Iterator[Story]:
    rng = random.Random(seed)
    for number in range(count):
        yield story(rng, number)
