"""Every StatesGroup of the bot, declared once."""

from aiogram.fsm.state import State, StatesGroup


class JoinStates(StatesGroup):
    name = State()


class ReportStates(StatesGroup):
    sphere = State()
    name = State()
    place = State()
    dates = State()
    dates_confirm = State()
    result = State()
    participants = State()
    count = State()
    period = State()
    summary = State()


class ReviewStates(StatesGroup):
    comment = State()  # a reviewer types why an event is returned


# The dialogue's seven numbered steps, in order; each is also the name of its state.
STEPS: tuple[str, ...] = ("sphere", "name", "place", "dates", "result", "participants", "period")


class MyStates(StatesGroup):
    search = State()  # /my: waiting for a word of an event's name
