"""The participants' total: read from text as Russians write numbers, printed agreed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reports.participants import (
    Total,
    characters,
    people,
    plural,
    read_count_answer,
    read_total,
    total_paragraph,
    with_total,
)

SEPARATORS = [" ", "\u00a0", "\u202f", "\u2009", "."]


@pytest.mark.parametrize(
    ("text", "total"),
    [
        ("Сотрудники музея, 18 человек", Total(18)),
        ("Общее количество участников\u00a0– 60 человек", Total(60)),
        ("Общее количество участников: 45", Total(45)),
        ("Выставку посетили 2 000 человек", Total(2000)),
        ("Выставку посетили 2\u00a0000 человек", Total(2000)),
        ("Выставку посетили 2\u202f000 человек", Total(2000)),
        ("Выставку посетили 2\u2009000 человек", Total(2000)),
        ("Выставку посетили 1 500 человек", Total(1500)),
        ("Выставку посетили 1.500 человек", Total(1500)),
        ("Общее количество участников – 12 300", Total(12300)),
        ("Выставку посетили более 1000\u00a0человек", Total(1000, "более")),
        ("около 20 человек", Total(20, "около")),
        ("свыше 50 участников", Total(50, "свыше")),
        ("не менее 30 человек", Total(30, "не менее")),
        ("Порядка 100 человек", Total(100, "порядка")),
        ("Общее количество участников – около 2 000 человек", Total(2000, "около")),
        # a date or a year before the number is not part of it
        ("26.10.2023 15 человек", Total(15)),
        ("в 2023 году 150 человек", Total(150)),
        ("Ветераны боевых действий (5 человек)", Total(5)),
        # not a total: no word says what the number counts, or the number is not whole
        ("Представители Республики Беларусь", None),
        ("около 20", None),
        ("20-30 человек", None),
        ("20 – 30 человек", None),
        ("1,5 тыс. человек", None),
    ],
)
def test_a_total_is_read_as_written(text: str, total: Total | None) -> None:
    assert read_total(text) == total


@given(st.integers(min_value=1000, max_value=999_999), st.sampled_from(SEPARATORS))
def test_a_number_grouped_by_thousands_is_read_whole(number: int, separator: str) -> None:
    grouped = f"{number:,}".replace(",", separator)

    assert read_total(f"Приняли участие {grouped} человек") == Total(number)
    assert read_count_answer(grouped) == Total(number)


@given(st.integers(min_value=0, max_value=9_999_999))
def test_a_plain_number_is_never_read_as_another(number: int) -> None:
    total = read_total(f"Всего {number} человек")

    assert total == Total(number)


@pytest.mark.parametrize(
    ("answer", "total"),
    [
        ("45", Total(45)),
        (" 45 ", Total(45)),
        ("45 человек", Total(45)),
        ("2 000", Total(2000)),
        ("2\u00a0000", Total(2000)),
        ("1 200 участников", Total(1200)),
        ("около 20", Total(20, "около")),
        ("более 1000", Total(1000, "более")),
        ("свыше 50", Total(50, "свыше")),
        ("не менее 30", Total(30, "не менее")),
        ("порядка 100", Total(100, "порядка")),
        ("много", None),
        ("-5", None),
        ("20-30", None),
        ("9" * 40, None),
        ("1,5", None),
    ],
)
def test_the_answer_to_how_many_is_a_number_or_nothing(answer: str, total: Total | None) -> None:
    assert read_count_answer(answer) == total


@pytest.mark.parametrize(
    ("number", "printed"),
    [
        (0, "0 человек"),
        (1, "1 человек"),
        (2, "2 человека"),
        (4, "4 человека"),
        (5, "5 человек"),
        (11, "11 человек"),
        (12, "12 человек"),
        (14, "14 человек"),
        (21, "21 человек"),
        (22, "22 человека"),
        (45, "45 человек"),
        (101, "101 человек"),
        (112, "112 человек"),
        (1000, "1000 человек"),
    ],
)
def test_people_agree_with_their_number(number: int, printed: str) -> None:
    assert people(number) == printed


def test_plural_takes_the_few_form_after_two_to_four() -> None:
    assert [plural(n, "день", "дня", "дней") for n in (1, 3, 7, 23, 111)] == [
        "день",
        "дня",
        "дней",
        "дня",
        "дней",
    ]


def test_a_total_given_apart_is_the_cells_last_paragraph_in_the_references_words() -> None:
    cell = with_total("Сотрудники музея;\nпредставители Республики Беларусь", 45)

    assert cell.split("\n") == [
        "Сотрудники музея;",
        "представители Республики Беларусь",
        "Общее количество участников\u00a0– 45 человек",
    ]
    assert total_paragraph(22) == "Общее количество участников\u00a0– 22 человека"


@pytest.mark.parametrize(
    "text",
    ["Общее количество участников\u00a0– 60 человек", "Выставку посетили более 1000 человек"],
)
def test_a_text_that_states_its_total_gets_no_second_one(text: str) -> None:
    assert with_total(text, 60) == text


def test_no_total_prints_nothing_more() -> None:
    assert with_total("Представители Республики Беларусь", None) == (
        "Представители Республики Беларусь"
    )


@pytest.mark.parametrize(
    ("number", "said"),
    [
        (1, "1 символ"),
        (2, "2 символа"),
        (5, "5 символов"),
        (11, "11 символов"),
        (21, "21 символ"),
        (4001, "4001 символ"),
        (8000, "8000 символов"),
        (8002, "8002 символа"),
    ],
)
def test_characters_agree_with_their_number(number: int, said: str) -> None:
    assert characters(number) == said
