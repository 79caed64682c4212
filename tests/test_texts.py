"""Every text the bot can show, rendered with sample values: nothing left unfilled, HTML
that Telegram parses, no longer than a message; the command menus as Telegram takes them;
and no Russian text anywhere else in the code but the data on the allowlist."""

from __future__ import annotations

import ast
import inspect
import re
from datetime import date, datetime
from pathlib import Path
from string import Formatter

import pytest

from bot import texts as bot_texts
from handlers import texts as handler_texts
from handlers.commands import COORDINATOR_COMMANDS, REPORTER_COMMANDS
from handlers.views import examples
from reports.dates import MESSAGES as DATE_MESSAGES
from reports.docx_import import MESSAGES as DOCX_MESSAGES
from reports.participants import plural
from reports.quarters import Quarter
from reports.workdays import is_working_day
from storage.importer import MESSAGES as IMPORT_MESSAGES
from storage.repositories.people import PLACEHOLDER_NAME
from tests.telegram_rules import MAX_TEXT, html_to_text, utf16_len
from tests.tg import PLACEHOLDER

SAMPLE = "Образец & <значение>"  # escaped by callers, as every value is


def _texts_of(where: str, value: object) -> list[tuple[str, str]]:
    """A text constant as (where, text): a string, or each of a dict's values or a tuple's
    strings (the forms `plural` takes, the words a command reads)."""
    if isinstance(value, str):
        return [(where, value)]
    if isinstance(value, dict):
        return [(f"{where}[{k!r}]", v) for k, v in value.items() if isinstance(v, str)]
    if isinstance(value, tuple) and value and all(isinstance(v, str) for v in value):
        return [(f"{where}[{i}]", v) for i, v in enumerate(value)]
    return []


def _templates() -> list[tuple[str, str]]:
    """(where, text) of every text constant: the classes of handlers/texts.py (the command
    menus' descriptions among them), bot/texts.py, and the two kept in their own layer:
    the refusals of typed dates (reports/dates.py: `reports/` imports nothing of ours), an
    import file's refusals and the name a coordinator from the settings has until they
    give theirs (storage/ imports nothing of handlers/ or bot/)."""
    found: list[tuple[str, str]] = []
    for class_name, holder in inspect.getmembers(handler_texts, inspect.isclass):
        if holder.__module__ != handler_texts.__name__:
            continue
        for name, value in vars(holder).items():
            if not name.startswith("_"):
                found += _texts_of(f"{class_name}.{name}", value)
    for name, value in vars(bot_texts).items():
        if name.isupper():
            found += _texts_of(f"bot.texts.{name}", value)
    found += [(f"reports.dates.MESSAGES[{code!r}]", text) for code, text in DATE_MESSAGES.items()]
    found += [(f"storage.importer.MESSAGES[{k!r}]", text) for k, text in IMPORT_MESSAGES.items()]
    found += [(f"reports.docx_import.MESSAGES[{k!r}]", text) for k, text in DOCX_MESSAGES.items()]
    found.append(("storage.people.PLACEHOLDER_NAME", PLACEHOLDER_NAME))
    return found


TEMPLATES = _templates()
CLI_TEXTS = ("bot.texts.", "storage.importer.")  # printed in a terminal, not sent as HTML


def render(template: str) -> str:
    fields = {name for _, name, _, _ in Formatter().parse(template) if name}
    values = {name: "3" if name in {"count", "number", "days"} else SAMPLE for name in fields}
    return template.format(**values).replace(SAMPLE, "Образец &amp; &lt;значение&gt;")


def test_every_text_is_found() -> None:
    assert len(TEMPLATES) > 150
    assert ("Periods.REMIND_SKIPPED", handler_texts.Periods.REMIND_SKIPPED) in TEMPLATES
    assert ("reports.dates.MESSAGES['year_far']", DATE_MESSAGES["year_far"]) in TEMPLATES
    assert ("storage.people.PLACEHOLDER_NAME", PLACEHOLDER_NAME) in TEMPLATES
    assert ("Menu.COMMANDS['status']", dict(COORDINATOR_COMMANDS)["status"]) in TEMPLATES
    assert ("Counted.DAYS[2]", "дней") in TEMPLATES
    assert ("bot.texts.SETTING_ERRORS['missing']", "не задано") in TEMPLATES
    assert ("bot.texts.DEMO_NO_SUCH_BUTTON", bot_texts.DEMO_NO_SUCH_BUTTON) in TEMPLATES
    assert ("storage.importer.MESSAGES['bad_period']", IMPORT_MESSAGES["bad_period"]) in TEMPLATES


@pytest.mark.parametrize(("where", "template"), TEMPLATES, ids=[w for w, _ in TEMPLATES])
def test_a_text_rendered_with_sample_values_leaves_no_placeholder(
    where: str, template: str
) -> None:
    text = render(template)

    assert not PLACEHOLDER.search(text), where
    assert "{" not in text and "}" not in text, where


@pytest.mark.parametrize(
    ("where", "template"),
    [(w, t) for w, t in TEMPLATES if not w.startswith(CLI_TEXTS)],
    ids=[w for w, _ in TEMPLATES if not w.startswith(CLI_TEXTS)],
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


@pytest.mark.parametrize(
    "name", [n for n, v in vars(handler_texts.Counted).items() if not n.startswith("_")]
)
def test_what_is_counted_has_the_three_forms_plural_takes(name: str) -> None:
    one, few, many = getattr(handler_texts.Counted, name)

    assert plural(1, one, few, many) == one and plural(21, one, few, many) == one
    assert plural(3, one, few, many) == few and plural(5, one, few, many) == many


def test_the_menus_descriptions_are_those_of_the_text_module() -> None:
    assert dict(COORDINATOR_COMMANDS) == handler_texts.Menu.COMMANDS


# --- no Russian text outside the text modules ----------------------------------------------

ROOMS = ("bot", "handlers", "storage", "reports")
ROOT = Path(__file__).resolve().parent.parent
TEXT_MODULES = {"handlers/texts.py", "bot/texts.py"}
CYRILLIC = re.compile("[А-Яа-яЁё]")

# Russian strings that are data, not the bot's words, and stay where they are: (file, the
# constant or function holding them; "*" for the whole file) → why. `reports/` imports
# nothing of ours, so its Russian is the document's own or what it reads.
ALLOWED: dict[tuple[str, str], str] = {
    ("bot/settings.py", "DEFAULT_REGION_PHRASE"): "the default REGION_PHRASE, a setting's value",
    ("bot/settings.py", "Settings.default_organisation"): "the default DEFAULT_ORGANISATION",
    ("handlers/keyboards.py", "_SPHERE_PREFIXES"): "matches the configured spheres' names",
    ("handlers/my_events.py", "_folded"): "«ё» read as «е» in a search",
    ("storage/importer.py", "MESSAGES"): "an import file's refusals: storage/ imports no bot/",
    ("storage/repositories/people.py", "PLACEHOLDER_NAME"): "a name stored until one is given",
    ("reports/chart.py", "*"): "the picture's own titles and labels",
    ("reports/dates.py", "*"): "month names and words read in dates; dates written as the "
    "report writes them; MESSAGES, the refusals of typed dates",
    ("reports/docx_import.py", "*"): "the official format's headings and title read from a "
    ".docx; MESSAGES, why a row or a file is not read",
    ("reports/model.py", "*"): "the report's fixed title and headings, the default spheres",
    ("reports/participants.py", "*"): "words read in a total; the plural helper's own nouns; "
    "the report's participants line",
    ("reports/quarters.py", "*"): "«К», «г.», «год» read in a period's label",
    ("reports/similar.py", "*"): "service words left out when names are compared",
    ("reports/stats.py", "*"): "the periods' short names and «Прочие сферы» of the indicators",
    ("reports/xlsx.py", "*"): "the .xlsx sheets' own titles and headings",
}


def cyrillic_strings(source: str) -> list[tuple[int, str, str]]:
    """(line, holder, text) of every string constant with Cyrillic in `source`, docstrings
    left out; the holder is the innermost constant, class or function it is written in
    (`Settings.default_organisation`, `_folded`; `<module>` for none)."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found: list[tuple[int, str, str]] = []

    def visit(node: ast.AST, scope: tuple[str, ...]) -> None:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            scope = (*scope, node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            scope = (*scope, names[0]) if names else scope
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and CYRILLIC.search(node.value)
        ):
            found.append((node.lineno, ".".join(scope) or "<module>", node.value))
        for child in ast.iter_child_nodes(node):
            visit(child, scope)

    visit(tree, ())
    return found


def _russian_in_the_code() -> list[tuple[str, int, str, str]]:
    return [
        (name, line, holder, text)
        for room in ROOMS
        for path in sorted((ROOT / room).rglob("*.py"))
        if (name := path.relative_to(ROOT).as_posix()) not in TEXT_MODULES
        for line, holder, text in cyrillic_strings(path.read_text(encoding="utf-8"))
    ]


def _allowed(name: str, holder: str) -> bool:
    return (name, "*") in ALLOWED or (name, holder) in ALLOWED


def test_russian_text_lives_only_in_the_text_modules_or_on_the_allowlist() -> None:
    offenders = [
        f"{name}:{line}: {text[:60]!r} (in {holder}) — move it to handlers/texts.py "
        "(the feature's class) or bot/texts.py, or allow it in ALLOWED with the reason"
        for name, line, holder, text in _russian_in_the_code()
        if not _allowed(name, holder)
    ]

    assert not offenders, "\n".join(offenders)


def test_every_allowance_is_still_needed() -> None:
    used = {(name, "*") for name, *_ in _russian_in_the_code()} | {
        (name, holder) for name, _, holder, _ in _russian_in_the_code()
    }

    assert set(ALLOWED) <= used, set(ALLOWED) - used


def test_the_search_names_the_line_and_holder_and_skips_docstrings() -> None:
    source = (
        '"""Модуль."""\n'
        "class Texts:\n"
        '    """Тексты."""\n'
        "    def answer(self) -> str:\n"
        '        """Ответ."""\n'
        '        return "Не понял" + "ok"\n'
        'LIMIT: str = f"не более {1} символов"\n'
    )

    assert cyrillic_strings(source) == [
        (6, "Texts.answer", "Не понял"),
        (7, "LIMIT", "не более "),
        (7, "LIMIT", " символов"),
    ]
