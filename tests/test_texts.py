"""Every text the bot can show, rendered with sample values: nothing left unfilled, HTML
that Telegram parses, no longer than a message; the command menus as Telegram takes them."""

from __future__ import annotations

import inspect
import re
from datetime import date, datetime
from string import Formatter

import pytest

from bot import texts as bot_texts
from handlers import texts as handler_texts
from handlers.commands import COORDINATOR_COMMANDS, REPORTER_COMMANDS
from handlers.views import examples
from reports.dates import MESSAGES as DATE_MESSAGES
from reports.quarters import Quarter
from reports.workdays import is_working_day
from storage.repositories.people import PLACEHOLDER_NAME
from tests.telegram_rules import MAX_TEXT, html_to_text, utf16_len
from tests.tg import PLACEHOLDER

SAMPLE = "Образец & <значение>"  # escaped by callers, as every value is


def _templates() -> list[tuple[str, str]]:
    """(where, text) of every text constant: the classes of handlers/texts.py, bot/texts.py,
    the refusals of typed dates (reports/dates.py: `reports/` imports nothing of ours), the
    name a coordinator from the settings has until they give theirs (storage/ imports no
    handlers), and the command menus' descriptions."""
    found: list[tuple[str, str]] = []
    for class_name, holder in inspect.getmembers(handler_texts, inspect.isclass):
        if holder.__module__ != handler_texts.__name__:
            continue
        for name, value in vars(holder).items():
            if name.startswith("_"):
                continue
            if isinstance(value, str):
                found.append((f"{class_name}.{name}", value))
            elif isinstance(value, dict):
                found += [(f"{class_name}.{name}[{k!r}]", v) for k, v in value.items()]
    for name, value in vars(bot_texts).items():
        if isinstance(value, str) and name.isupper():
            found.append((f"bot.texts.{name}", value))
    found += [(f"reports.dates.MESSAGES[{code!r}]", text) for code, text in DATE_MESSAGES.items()]
    found.append(("storage.people.PLACEHOLDER_NAME", PLACEHOLDER_NAME))
    found += [(f"commands./{name}", text) for name, text in COORDINATOR_COMMANDS]
    return found


TEMPLATES = _templates()


def render(template: str) -> str:
    fields = {name for _, name, _, _ in Formatter().parse(template) if name}
    values = {name: "3" if name in {"count", "number", "days"} else SAMPLE for name in fields}
    return template.format(**values).replace(SAMPLE, "Образец &amp; &lt;значение&gt;")


def test_every_text_is_found() -> None:
    assert len(TEMPLATES) > 150
    assert ("Periods.REMIND_SKIPPED", handler_texts.Periods.REMIND_SKIPPED) in TEMPLATES
    assert ("reports.dates.MESSAGES['year_far']", DATE_MESSAGES["year_far"]) in TEMPLATES
    assert ("storage.people.PLACEHOLDER_NAME", PLACEHOLDER_NAME) in TEMPLATES
    assert ("commands./status", dict(COORDINATOR_COMMANDS)["status"]) in TEMPLATES


@pytest.mark.parametrize(("where", "template"), TEMPLATES, ids=[w for w, _ in TEMPLATES])
def test_a_text_rendered_with_sample_values_leaves_no_placeholder(
    where: str, template: str
) -> None:
    text = render(template)

    assert not PLACEHOLDER.search(text), where
    assert "{" not in text and "}" not in text, where


@pytest.mark.parametrize(
    ("where", "template"),
    [(w, t) for w, t in TEMPLATES if not w.startswith("bot.texts.")],
    ids=[w for w, _ in TEMPLATES if not w.startswith("bot.texts.")],
)
def test_a_chat_text_is_html_telegram_parses(where: str, template: str) -> None:
    shown = html_to_text(render(template))

    assert "<" not in shown.replace("<значение>", ""), where


@pytest.mark.parametrize(("where", "template"), TEMPLATES, ids=[w for w, _ in TEMPLATES])
def test_a_text_rendered_fits_in_a_message(where: str, template: str) -> None:
    assert 0 < utf16_len(html_to_text(render(template))) <= MAX_TEXT, where


@pytest.mark.parametrize(
    ("command", "description"),
    COORDINATOR_COMMANDS,
    ids=[name for name, _ in COORDINATOR_COMMANDS],
)
def test_a_menu_command_is_one_telegram_accepts(command: str, description: str) -> None:
    """setMyCommands: a command of 1–32 characters a-z, 0-9 and _; a description of 1–256."""
    assert re.fullmatch(r"[a-z0-9_]{1,32}", command), command
    assert 1 <= len(description) <= 256, command
    assert description == description.strip() and "{" not in description, command


def test_the_menus_name_each_command_once_and_the_desk_adds_to_the_staffs() -> None:
    names = [name for name, _ in COORDINATOR_COMMANDS]

    assert len(names) == len(set(names)) <= 100
    assert COORDINATOR_COMMANDS[: len(REPORTER_COMMANDS)] == REPORTER_COMMANDS


def test_the_moved_words_are_those_of_the_text_modules() -> None:
    """Words once written in the handlers now come from handlers/texts.py."""
    from handlers import review, upload

    assert "без имени" not in inspect.getsource(upload)
    assert '"отправлено"' not in inspect.getsource(review)
    assert '"удалено"' not in inspect.getsource(review)
    assert handler_texts.Upload.NO_NAME == "без имени"


# --- the words: docs/words.md is the glossary these checks keep ---------------------------

# Words and forms the texts must not use, with what to write instead (docs/words.md).
FORBIDDEN = {
    "не понял": "«Сообщение не распознано»",
    "и так открыт": "«уже открыт»",
    "заключительн": "«примечания» (closing notes: one term in chat and CLI)",
    "замечани": "«примечания»",
    "заметк": "«примечания»",
    "договорённост": "«договоренности», as in the official header",
    "недоступен": "«сообщения не доставляются» (no masculine-only form about a person)",
    "дн.": "plural(): «1 день», «3 дня», «7 дней»",
    "(а)": "a neutral wording, never a gender-split form",
    "далёк": "«не относится к отчётному периоду»",
    "ждём": "«ожидаются сведения» (the register of an official letter)",
}


@pytest.mark.parametrize(("where", "template"), TEMPLATES, ids=[w for w, _ in TEMPLATES])
def test_a_text_keeps_to_the_glossary(where: str, template: str) -> None:
    lowered = template.lower()
    for word, instead in FORBIDDEN.items():
        assert word not in lowered, f"{where}: «{word}» — write {instead}"


@pytest.mark.parametrize(("where", "template"), TEMPLATES, ids=[w for w, _ in TEMPLATES])
def test_a_quarter_is_closed_as_the_collecting_of_its_reports(where: str, template: str) -> None:
    """«{period} закрыт» reads «IV квартал 2023 года закрыт»: write «приём сведений за …»."""
    shown = " ".join(template.split()).lower()
    assert not re.search(r"(?<!за )\{period\} (будет |уже )?закрыт", shown), where


@pytest.mark.parametrize(
    ("template", "term"),
    [
        (handler_texts.Desk.BAD_PERIOD, "Период"),  # /report: a quarter or a year
        (handler_texts.Indicators.BAD_PERIOD, "Период"),  # /stats: a quarter or a year
        (bot_texts.REPORT_BAD_PERIOD, "Период"),  # the CLI report: a quarter or a year
        (handler_texts.Duplicates.BAD_PERIOD, "Квартал"),  # /duplicates: a quarter only
        (handler_texts.Review.BAD_PERIOD, "Квартал"),  # /review: a quarter only
        (handler_texts.Periods.BAD_PERIOD, "Квартал"),  # /deadline, /close…: a quarter only
    ],
    ids=["report", "stats", "cli-report", "duplicates", "review", "periods"],
)
def test_a_bad_period_text_names_what_the_command_accepts(template: str, term: str) -> None:
    assert template.startswith(f"{term} указан неверно"), template


@pytest.mark.parametrize(("where", "template"), TEMPLATES, ids=[w for w, _ in TEMPLATES])
def test_no_participle_agrees_with_a_persons_name(where: str, template: str) -> None:
    """«{name} отключён», «{name} указан»: a name is a woman's as often as a man's."""
    for participle in ("отключён", "указан", "добавлен", "зарегистрирован", "назначен"):
        assert f"{{name}} {participle}" not in template, where
        assert f"{{name}} уже {participle}" not in template, where


@pytest.mark.parametrize(
    ("days", "expected"),
    [(1, "остался 1 день"), (2, "осталось 2 дня"), (5, "осталось 5 дней"), (21, "остался 21 день")],
)
def test_days_left_agree_in_number(days: int, expected: str) -> None:
    from bot.reminders import _days_text

    assert _days_text(days) == expected


@pytest.mark.parametrize(
    "template",
    [
        handler_texts.Common.HELP_REPORTER + handler_texts.Common.HELP_COORDINATOR,
        handler_texts.Dialogue.ASK["dates"],
        handler_texts.Periods.DEADLINE_USAGE,
        handler_texts.Periods.NOTE_USAGE,
    ],
    ids=["help", "dates", "deadline-usage", "note-usage"],
)
def test_the_example_texts_show_the_quarter_collected_not_a_fixed_year(template: str) -> None:
    text = template.format(**examples(Quarter(2027, 1), date(2027, 2, 15)))

    assert "2027" in text
    assert not any(str(year) in text for year in (2023, 2024, 2025, 2026))
    assert "{" not in text


def test_the_deadline_example_is_a_working_day_after_the_quarter() -> None:
    shown = examples(Quarter(2026, 4), date(2026, 12, 2))["deadline"]

    day = datetime.strptime(shown, "%d.%m.%Y").date()
    assert day > Quarter(2026, 4).last_day and is_working_day(day)
