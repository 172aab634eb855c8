"""The wheel built from the repo runs outside the checkout: `feeds init`, one article, a feed,
a page and a digest preview, with nothing of the checkout importable."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import feedparser

from tests.conftest import ROOT

ARTICLE = ("Voters return to the polls in a snap election\n\n"
           "Voters went to the polls on Sunday in a snap election called after the coalition "
           "collapsed. Turnout was high in the capital, election officials said, and the first "
           "results are expected on Monday. Both main candidates campaigned on housing.\n")


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                            env=env, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def installed_venv(tmp: Path) -> Path:
    """A fresh venv whose own feeds is the wheel; the dependencies come from this venv's
    site-packages (a path line, so this venv's .pth files, and with them the editable
    checkout, are not read)."""
    wheels = tmp / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", wheels,
        ROOT, cwd=tmp)
    venv = tmp / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp)
    python = venv / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))",
                    cwd=tmp).stdout.strip())
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    [wheel] = wheels.glob("feeds-*.whl")
    run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps",
        "--no-index", wheel, cwd=tmp)
    return venv


def test_the_wheel_inits_a_site_ingests_publishes_and_previews_outside_the_checkout(
        tmp_path: Path) -> None:
    venv = installed_venv(tmp_path)
    site = tmp_path / "site"
    site.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FEEDS_CONFIG")}
    where = run(venv / "bin" / "python", "-c", "import feeds; print(feeds.__file__)", cwd=site,
                env=env).stdout.strip()
    assert Path(where).is_relative_to(venv), where  # the wheel's feeds, not the checkout's

    def feeds(*args: str) -> subprocess.CompletedProcess[str]:
        return run(venv / "bin" / "feeds", *args, cwd=site, env=env)

    feeds("init")
    assert {p.name for p in site.iterdir()} == {"config.toml", "inbox", "public", "state"}
    feeds("subscribers", "add", "reader@example.org")  # a digest holds what came after
    (site / "inbox" / "snap-election.txt").write_text(ARTICLE, encoding="utf-8")
    feeds("ingest")
    entries = feedparser.parse(site / "public" / "feeds" / "all.atom").entries
    assert [e.title for e in entries] == ["Voters return to the polls in a snap election"]
    assert [e.title for e in feedparser.parse(
        site / "public" / "feeds" / "elections.atom").entries] == [entries[0].title]
    [page] = (site / "public" / "articles").glob("*.html")
    assert "Turnout was high in the capital" in page.read_text(encoding="utf-8")
    preview = feeds("digest", "preview", "--subscriber", "reader@example.org").stdout
    assert "Subject: My news: your daily digest" in preview, preview
    assert "Voters return to the polls" in preview, preview
