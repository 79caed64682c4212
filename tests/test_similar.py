"""The matcher of suspected duplicates: joint events found, the reference quarter kept apart."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from reports.similar import (
    NAME_MIN,
    PLACE_MIN,
    Candidate,
    compare,
    normalise,
    scores,
    similar_to,
    suspected_pairs,
)


def _reference(data: dict[str, Any]) -> list[Candidate]:
    """The 42 reference events, each as if reported by an organisation of its own."""
    return [
        Candidate(
            key=number,
            organisation=number,
            name=event["name"],
            place=event["place"],
            start=date.fromisoformat(event["start"]),
            end=date.fromisoformat(event["end"]),
        )
        for number, event in enumerate(data["events"], 1)
    ]


DAY = date(2023, 9, 18)


def _event(key: str, name: str, place: str, start: date, end: date | None = None) -> Candidate:
    return Candidate(key, key, name, place, start, end or start)


# A joint event each institution reported in its own words: (reference number, the other).
JOINT = [
    (
        42,
        _event(
            "ministry",
            "Встреча с делегацией Республики Беларусь во главе с Чрезвычайным и Полномочным "
            "Послом Республики Беларусь в РФ Д.Н. Крутым",
            "г. Смоленск, Дом Советов",
            date(2023, 12, 4),
        ),
    ),
    (
        32,
        _event(
            "district",
            "Участие в международном фестивале «Днепр - река дружбы»",
            "Вяземский район Смоленской области",
            date(2023, 9, 18),
        ),
    ),
    (
        14,
        _event(
            "centre",
            "Подписание соглашения о сотрудничестве с ГУК «Гродненский областной методический "
            "центр народного творчества»",
            "Республика Беларусь, г. Бобруйск",
            date(2023, 11, 22),
        ),
    ),
    (
        13,
        _event(
            "theatre",
            "Гастроли Государственного театра кукол Республики Беларусь в Смоленске",
            "г. Смоленск, Смоленский областной театр кукол им. Д.Н. Светильникова",
            date(2023, 11, 18),
        ),
    ),
]


def test_it_normalises_case_endings_quotes_and_service_words() -> None:
    assert normalise("Участие в Международной выставке «Ёлка», г. Смоленск") == (
        normalise("международном выставка ЕЛКА смоленской")
    )


def test_the_reference_same_name_pairs_are_20_21_and_25_26(fixture_data: dict[str, Any]) -> None:
    """The issue names them 19/20 and 24/25: counted from zero. In the file's order (and by
    the report's own numbers) they are 20/21 and 25/26; 19/20 and 24/25 differ in name."""
    events = _reference(fixture_data)
    same_name = [
        (a.key, b.key) for i, a in enumerate(events) for b in events[i + 1 :] if a.name == b.name
    ]

    assert same_name == [(20, 21), (25, 26)]
    assert [fixture_data["events"][n - 1]["number"] for n in (20, 21, 25, 26)] == [20, 21, 25, 26]


@pytest.mark.parametrize("pair", [(19, 20), (20, 21), (24, 25), (25, 26)])
def test_the_reference_pairs_named_in_the_issue_are_kept_apart(
    fixture_data: dict[str, Any], pair: tuple[int, int]
) -> None:
    events = _reference(fixture_data)

    assert compare(events[pair[0] - 1], events[pair[1] - 1]) is None


def test_same_name_and_place_on_other_dates_is_not_a_duplicate(
    fixture_data: dict[str, Any],
) -> None:
    first, second = _reference(fixture_data)[19:21]  # 20 and 21: 9 and 23 October

    assert first.name == second.name and first.place == second.place
    assert scores(first, second) == (100.0, 100.0)
    assert compare(first, second) is None
    assert compare(first, replace(second, start=first.start, end=first.end)) is not None


def test_same_name_on_the_same_day_in_another_place_is_not_a_duplicate(
    fixture_data: dict[str, Any],
) -> None:
    first, second = _reference(fixture_data)[24:26]  # 25 and 26: Smolensk and Roslavl
    moved = replace(second, start=first.start, end=first.end)

    name_score, place_score = scores(first, moved)
    assert name_score == 100.0 and place_score < PLACE_MIN
    assert compare(first, moved) is None


def test_no_pair_is_suspected_across_the_whole_reference_quarter(
    fixture_data: dict[str, Any],
) -> None:
    events = _reference(fixture_data)

    assert suspected_pairs(events) == []
    overlapping = [
        scores(a, b)[0]
        for i, a in enumerate(events)
        for b in events[i + 1 :]
        if a.start <= b.end and b.start <= a.end
    ]
    assert len(overlapping) > 100
    assert max(overlapping) <= NAME_MIN - 10  # a margin, not a near miss


@pytest.mark.parametrize(("number", "other"), JOINT, ids=[other.key for _, other in JOINT])
def test_a_joint_event_reported_in_other_words_is_found(
    fixture_data: dict[str, Any], number: int, other: Candidate
) -> None:
    events = _reference(fixture_data)

    found = similar_to(other, events)

    assert [match.second for match in found] == [number]
    assert found[0].name_score >= NAME_MIN and found[0].place_score >= PLACE_MIN


def test_a_joint_event_is_found_once_among_the_whole_quarter(
    fixture_data: dict[str, Any],
) -> None:
    events = [*_reference(fixture_data), *(other for _, other in JOINT)]

    pairs = {(match.first, match.second) for match in suspected_pairs(events)}

    assert pairs == {(number, other.key) for number, other in JOINT}


def test_one_organisations_own_events_are_never_its_duplicates() -> None:
    a = _event("a", "Фестиваль «Днепр – река дружбы»", "г. Смоленск", date(2023, 9, 18))
    b = replace(a, key="b")

    assert compare(a, b) is None
    assert compare(a, replace(b, organisation="other")) is not None


def test_dates_that_touch_on_one_day_overlap() -> None:
    a = _event("a", "Фестиваль «Днепр – река дружбы»", "г. Смоленск", date(2023, 9, 18))
    b = _event("b", a.name, a.place, date(2023, 9, 19), date(2023, 9, 20))
    c = replace(a, key="c", organisation="c", start=date(2023, 9, 17), end=date(2023, 9, 18))

    assert compare(a, b) is None
    assert compare(a, c) is not None


def test_names_with_other_numbers_are_other_events() -> None:
    fifth = _event("a", "V Международный фестиваль «Днепр – река дружбы»", "г. Смоленск", DAY)
    sixth = replace(fifth, key="b", organisation="b", name=fifth.name.replace("V ", "VI "))
    unnumbered = replace(fifth, key="c", organisation="c", name="Фестиваль «Днепр – река дружбы»")
    hall = _event("d", "Выставка «Смоленск – Минск» №5", "г. Минск", DAY)

    assert scores(fifth, sixth)[0] >= NAME_MIN
    assert compare(fifth, sixth) is None
    assert compare(fifth, unnumbered) is not None  # one name gives no number: no veto
    assert compare(hall, replace(hall, key="e", organisation="e", name="Выставка №32")) is None
    assert compare(hall, replace(hall, key="f", organisation="f")) is not None


def test_the_worked_out_texts_kept_are_what_working_them_out_again_gives() -> None:
    """`normalise` and `numbers` keep what they gave for a text (pure functions of it, their
    results immutable): the kept answer is the answer, for any text met again."""
    from reports.similar import TEXTS_KEPT, normalise, numbers

    texts = [
        f"XVI Международный фестиваль «Днепр – река дружбы» №{n}, г. Смоленск" for n in range(3)
    ]
    for text in [*texts, *texts, "Ёлка в г. Вязьме", "ёлка в Вязьме"]:
        assert normalise(text) == normalise.__wrapped__(text)
        assert numbers(text) == numbers.__wrapped__(text)
        assert isinstance(numbers(text), frozenset)
    assert normalise("Ёлка в г. Вязьме") == normalise("ёлка в Вязьме") == "елка вязьме"
    assert numbers(texts[1]) == frozenset({"xvi", "1"})
    assert normalise.cache_info().maxsize == numbers.cache_info().maxsize == TEXTS_KEPT
