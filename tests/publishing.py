"""What the publish tests share: a story to drop in the inbox, unrelated fillers, and
snapshots of the public folder to compare."""

from __future__ import annotations

import hashlib
from pathlib import Path


def story(title: str, place: str = "Damascus", day: int = 1) -> str:
    """A short wire report from Syria, dated `day` March 2025."""
    return (f"{title}\n\nPublished: {day} March 2025 10:00 GMT\n\nDAMASCUS (Wire) - Officials "
            f"in Syria said on Monday that work in {place} would continue. The Syrian "
            f"government gave no timetable.\n\nResidents of {place} welcomed the news.\n")


def snapshot(public: Path) -> dict[str, tuple[str, int]]:
    """Each file's digest and mtime: an unchanged file keeps both."""
    return {str(p.relative_to(public)): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                         p.stat().st_mtime_ns)
            for p in sorted(public.rglob("*")) if p.is_file()}


FILLERS = [
    "Storm closes mountain roads\n\nHeavy snow closed three mountain passes on Monday and "
    "the weather service warned of avalanches above 2,000 metres.\n",
    "Budget vote delayed again\n\nThe city council postponed its budget vote for a second "
    "week after members disagreed over bus fares and library hours.\n",
    "Museum reopens its east wing\n\nThe national museum reopened its east wing after a "
    "two-year restoration of the painted ceilings and the marble staircase.\n",
    "Cup final goes to penalties\n\nThe river club won the cup final on penalties after a "
    "goalless match in front of forty thousand supporters.\n",
]


def tree(folder: Path) -> dict[Path, bytes]:
    """Each file's bytes."""
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}

