"""Every text the bot can show, rendered with sample values: nothing left unfilled, HTML
that Telegram parses."""

from __future__ import annotations

import inspect
from string import Formatter

import pytest

from bot import texts as bot_texts
from handlers import texts as handler_texts
from tests.telegram_rules import html_to_text
from tests.tg import PLACEHOLDER

SAMPLE = "Образец & <значение>"  # escaped by callers, as every value is


def _templates() -> list[tuple[str, str]]:
    """(where, text) of every text constant: the classes of handlers/texts.py, bot/texts.py."""
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
    return found


TEMPLATES = _templates()


def render(template: str) -> str:
    fields = {name for _, name, _, _ in Formatter().parse(template) if name}
    values = {name: "3" if name in {"count", "number", "days"} else SAMPLE for name in fields}
    return template.format(**values).replace(SAMPLE, "Образец &amp; &lt;значение&gt;")


def test_every_text_is_found() -> None:
    assert len(TEMPLATES) > 150
    assert ("Periods.REMIND_SKIPPED", handler_texts.Periods.REMIND_SKIPPED) in TEMPLATES


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
}


@pytest.mark.parametrize(("where", "template"), TEMPLATES, ids=[w for w, _ in TEMPLATES])
def test_a_text_keeps_to_the_glossary(where: str, template: str) -> None:
    lowered = template.lower()
    for word, instead in FORBIDDEN.items():
        assert word not in lowered, f"{where}: «{word}» — write {instead}"


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
