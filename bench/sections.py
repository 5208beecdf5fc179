"""Shared by the bench scripts: each owns one marked section of
docs/BENCHMARKS.md and replaces only that."""
from pathlib import Path


def write_section(out: Path, section: str, begin: str, end: str) -> None:
    """Replaces the text between `begin` and `end` in `out` with `section`
    (which includes both markers), keeping every other section; appends it
    if the markers are not there yet."""
    out.parent.mkdir(parents=True, exist_ok=True)
    text = out.read_text() if out.exists() else "# Benchmarks\n\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    out.write_text(text)
