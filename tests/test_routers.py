"""The routers' shape: what aiogram would quietly make slow, and the keyboards' layout."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Chat, InlineKeyboardButton, Message

from handlers import keyboards as kb
from handlers.filters import CommandOrIn, InStates
from handlers.routers import setup_routers
from handlers.states import STEPS, JoinStates


def walk(router: Router) -> Iterator[Router]:
    yield router
    for child in router.sub_routers:
        yield from walk(child)


def test_every_handler_and_filter_runs_in_the_event_loop() -> None:
    # aiogram sends a plain function (a bare F filter, a bare State) to a worker thread on
    # every check: a thread hop per filter per update. Wrap them (handlers.filters.Check,
    # StateFilter) instead.
    in_threads = []
    for router in walk(setup_routers()):
        for name, observer in router.observers.items():
            for handler in observer.handlers:
                if not handler.awaitable:
                    in_threads.append(f"{router.name}.{name}: handler {handler.callback}")
                for check in handler.filters or ():
                    if not check.awaitable:
                        in_threads.append(f"{router.name}.{name}: filter {check.callback}")
            for check in observer._handler.filters or ():
                if not check.awaitable:
                    in_threads.append(f"{router.name}.{name}: router filter {check.callback}")
    assert in_threads == []


def test_a_gated_router_has_no_message_handler_its_gate_would_hide() -> None:
    # handlers.filters.CommandOrIn lets through commands and its states only: each message
    # handler behind it must want a command (aiogram's Command, CommandStart) or only
    # states of the gate. A handler added without either would never be reached.
    gated, hidden = [], []
    for router in walk(setup_routers()):
        gates = [f.callback for f in router.message._handler.filters or ()]
        gate = next((g for g in gates if isinstance(g, CommandOrIn)), None)
        if gate is None:
            continue
        gated.append(router.name)
        for handler in router.message.handlers:
            checks = [f.callback for f in handler.filters or ()]
            wants_command = any(isinstance(c, Command) for c in checks)
            in_gate = any(isinstance(c, InStates) and c.names <= gate.names for c in checks)
            if not (wants_command or in_gate):
                hidden.append(f"{router.name}: {handler.callback.__name__}")
    assert sorted(gated) == ["handlers.common", "handlers.join"]
    assert hidden == []


async def test_the_gate_lets_through_commands_in_text_or_caption_and_its_states() -> None:
    gate = CommandOrIn(JoinStates.name)
    chat = Chat(id=1, type="private")

    def message(**fields: str) -> Message:
        return Message(message_id=1, date=datetime(2026, 1, 1), chat=chat, **fields)

    assert await gate(message(text="/help"))
    assert await gate(message(caption="/start code"))
    assert await gate(message(text="Иванов Иван"), raw_state=JoinStates.name.state)
    assert not await gate(message(text="Иванов Иван"))
    assert not await gate(message(text="Лекция"), raw_state="ReportStates:name")
    assert not await gate(message())  # a photo without a caption, outside the state


def labels(rows: list[list[InlineKeyboardButton]]) -> list[list[str]]:
    return [[button.text for button in row] for row in rows]


def test_the_keyboard_puts_buttons_in_rows_of_the_given_sizes_the_last_repeating() -> None:
    keyboard = kb.Keyboard()
    for n in range(7):
        keyboard.button(text=str(n), callback_data=kb.SphereCb(id=n + 1))
    keyboard.adjust(1, 2)

    markup = keyboard.as_markup()

    assert labels(markup.inline_keyboard) == [["0"], ["1", "2"], ["3", "4"], ["5", "6"]]
    assert markup.inline_keyboard[0][0].callback_data == "sp:1"


def test_the_keyboard_without_sizes_fills_rows_of_eight() -> None:
    keyboard = kb.Keyboard()
    for n in range(10):
        keyboard.button(text=str(n), callback_data=kb.SphereCb(id=n + 1))

    assert [len(row) for row in keyboard.as_markup().inline_keyboard] == [8, 2]


def test_the_summary_keyboard_pairs_the_fields_then_submit_and_cancel() -> None:
    rows = labels(kb.summary_keyboard(STEPS, editing=False).inline_keyboard)

    assert [len(row) for row in rows] == [2, 2, 2, 1, 1, 1]
    assert rows[-2:] == [[kb.Dialogue.SUBMIT], [kb.Dialogue.CANCEL]]


def test_each_summary_carries_its_own_submit_key_though_its_field_buttons_are_shared() -> None:
    first = kb.summary_keyboard(STEPS, editing=False, key="abc")
    second = kb.summary_keyboard(STEPS, editing=True, key="e5")

    def data(rows: list[list[InlineKeyboardButton]]) -> list[list[str | None]]:
        return [[button.callback_data for button in row] for row in rows]

    edits = [[f"d:edit:{a}", f"d:edit:{b}"] for a, b in zip(STEPS[:-1:2], STEPS[1::2], strict=True)]
    assert data(first.inline_keyboard) == [
        *edits,
        [f"d:edit:{STEPS[-1]}"],
        ["d:submit:abc"],
        ["d:cancel:summary"],
    ]
    assert data(second.inline_keyboard)[-2:] == [["d:submit:e5"], ["d:cancel:summary"]]
    assert labels(second.inline_keyboard)[-2] == [kb.Dialogue.SAVE]
    assert labels(first.inline_keyboard)[-2] == [kb.Dialogue.SUBMIT]  # the first is as it was
    assert first.inline_keyboard[-2] is not second.inline_keyboard[-2]


def test_the_periods_keyboard_marks_the_default_it_is_given() -> None:
    def shown(periods: list[tuple[int, str, bool]], back: bool = True) -> list[list[str]]:
        return labels(kb.periods_keyboard(periods, back=back).inline_keyboard)

    third, fourth = (1, "III квартал 2023 года"), (2, "IV квартал 2023 года")
    assert shown([(*third, False), (*fourth, True)]) == [
        [third[1]],
        [fourth[1] + kb.Dialogue.DEFAULT_MARK],
        [kb.Dialogue.BACK, kb.Dialogue.CANCEL],
    ]
    assert shown([(*third, True), (*fourth, False)])[:2] == [
        [third[1] + kb.Dialogue.DEFAULT_MARK],
        [fourth[1]],
    ]
    assert shown([(*fourth, True)], back=False) == [
        [fourth[1] + kb.Dialogue.DEFAULT_MARK],
        [kb.Dialogue.CANCEL],
    ]


async def test_every_state_filter_of_the_routers_answers_as_aiograms_own() -> None:
    from aiogram.filters import StateFilter
    from aiogram.fsm.state import StatesGroup

    from handlers import states
    from handlers.filters import InStates

    groups = [
        group
        for group in vars(states).values()
        if isinstance(group, type) and issubclass(group, StatesGroup) and group is not StatesGroup
    ]
    raw_states = [
        None,
        "",
        "*",
        "Unknown:state",
        *(s.state for g in groups for s in g.__all_states__),
    ]
    filters = [
        check.callback
        for router in walk(setup_routers())
        for observer in router.observers.values()
        for handler in observer.handlers
        for check in handler.filters or ()
        if isinstance(check.callback, StateFilter)
    ]

    assert len(filters) >= 20 and all(isinstance(f, InStates) for f in filters)
    for state_filter in filters:
        own = StateFilter(*state_filter.states)
        for raw in raw_states:
            assert await state_filter(None, raw_state=raw) == await own(None, raw_state=raw), (
                state_filter,
                raw,
            )
