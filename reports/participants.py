"""The participants' total: read from free text, printed in the reference's own words.

A total is read only where the text says what it counts (`… человек`, `… участников`,
`количество участников – …`). Numbers are read as Russians write them, thousands grouped
by a space, a no-break space (U+00A0), a narrow or thin no-break space (U+202F, U+2009) or
a dot: `2 000 человек` is 2000. A total the text gives as approximate (`около 20`, `более
1000`) keeps its word: `Total.shown` is `более 1000`, and the text itself is printed as
written anyway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A number as typed: `45`, `2 000`, `2\u00a0000`, `1.500`, `12 300 000`. A group separator
# is exactly one of these characters followed by exactly three digits. Not a piece of a
# date or a decimal (`26.10.2023`, `1,5`), nor the end of a range (`20-30 человек`).
_GROUP = "[ \u00a0\u202f\u2009.]"
_NOT_INSIDE = r"(?<![\d.,])(?<!\d[-–—])(?<!\d\s[-–—]\s)"
_NUMBER = rf"{_NOT_INSIDE}(?:\d{{1,3}}(?:{_GROUP}\d{{3}})+|\d{{1,7}})(?![\d,]|\.\d)"
# Words that make a number approximate; kept, as written, in `Total.qualifier`.
_QUALIFIERS = (
    r"не\s+менее|не\s+более|более\s+чем|более|свыше|около|порядка|примерно|"
    r"приблизительно|почти|менее|меньше|больше|до"
)
_QUALIFIED = rf"(?:(?P<qualifier>{_QUALIFIERS})\s+)?(?P<number>{_NUMBER})"
_PATTERNS = (
    re.compile(rf"количеств\w*(?:\s+\w+){{0,2}}?\s*[-–—:]?\s*{_QUALIFIED}", re.IGNORECASE),
    re.compile(rf"{_QUALIFIED}\s*(?:человек|чел\b|чел\.|участник)", re.IGNORECASE),
)
# A word each pattern cannot match without: texts without it skip the pattern's search.
_NEEDED = (("количеств",), ("чел", "участник"))
# The whole answer to «Сколько всего было участников?»: a number, perhaps with its word.
_COUNT_ANSWER = re.compile(
    rf"\s*{_QUALIFIED}\s*(?:человек\w*|чел\.?|участник\w*)?\s*\.?\s*", re.IGNORECASE
)
COUNT_MAX = 1_000_000


@dataclass(frozen=True, slots=True)
class Total:
    """A total as stated: the number and, when approximate, its word (`более`)."""

    count: int
    qualifier: str | None = None

    @property
    def shown(self) -> str:
        """`45`, or `более 1000` for an approximate total."""
        if self.qualifier:
            return f"{self.qualifier} {self.count}"
        return str(self.count)


def _number(digits: str) -> int:
    return int(re.sub(r"\D", "", digits))


def _total(match: re.Match[str]) -> Total:
    qualifier = match["qualifier"]
    return Total(
        _number(match["number"]), " ".join(qualifier.lower().split()) if qualifier else None
    )


def read_total(text: str) -> Total | None:
    """The total stated in free text (the last one stated), if it is stated."""
    lowered = text.lower()
    for pattern, needed in zip(_PATTERNS, _NEEDED, strict=True):
        if not any(word in lowered for word in needed):
            continue
        found = list(pattern.finditer(text))
        if found:
            return _total(found[-1])
    return None


def read_count_answer(text: str) -> Total | None:
    """The answer to «how many participants?»: a number (with its qualifier), or None."""
    match = _COUNT_ANSWER.fullmatch(text)
    if match is None:
        return None
    total = _total(match)
    return total if total.count <= COUNT_MAX else None


def plural(number: int, one: str, few: str, many: str) -> str:
    """The Russian form of a noun after `number`: 1 человек, 2 человека, 5 человек.

    `one` after 1, 21, 101…; `few` after 2–4, 22–24…; `many` after 0, 5–20, 25–30…
    (11–14 always take `many`).
    """
    tens, units = number % 100, number % 10
    if units == 1 and tens != 11:
        return one
    if 2 <= units <= 4 and not 12 <= tens <= 14:
        return few
    return many


def people(number: int) -> str:
    """`1 человек`, `2 человека`, `45 человек`."""
    return f"{number} {plural(number, 'человек', 'человека', 'человек')}"


def characters(number: int) -> str:
    """`1 символ`, `2 символа`, `4001 символ`, `8000 символов`."""
    return f"{number} {plural(number, 'символ', 'символа', 'символов')}"


def total_paragraph(count: int) -> str:
    """The participants cell's last paragraph, as the reference prints it."""
    return f"Общее количество участников\u00a0– {people(count)}"


def with_total(participants: str, count: int | None) -> str:
    """The participants cell: the text, plus the total as its last paragraph when the
    total was given apart from the text (the text states none)."""
    if count is None or read_total(participants) is not None:
        return participants
    paragraph = total_paragraph(count)
    return f"{participants}\n{paragraph}" if participants else paragraph
