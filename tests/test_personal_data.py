"""Personal data: the notice at joining, a coordinator's erasure and export of one person,
access by role, and logs that never hold what people typed."""

from __future__ import annotations

import logging

import pytest

from bot.database import Storage
from handlers.texts import Dialogue
from tests.conftest import COORDINATOR_ID
from tests.test_dialogue import LINK
from tests.tg import World, stored_events

# Distinctive enough that any trace of them in a log record is a leak.
ORGANISATION = "Музей Квазиуникальный"
FULL_NAME = "Прасковья Шмидт-Неповторимова"
EVENT = {
    "name": "Выставка Зеркальнолунная",
    "place": "г. Ыгыдымск, Республика Небывалия",
    "result": "Подписано соглашение Тридесятое.",
    "participants": "Делегация Тридевятая, общее количество участников – 18 человек",
}
STRANGER_TEXT = "Здравствуйте, я Аграфена Незнакомкина"


def _every_logger_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)


async def test_the_logs_of_a_whole_dialogue_hold_no_text_name_or_organisation(
    world: World, app_storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    _every_logger_at_debug(caplog)
    coordinator = world.person(COORDINATOR_ID, "Координатор")
    await coordinator.send("/start")
    await coordinator.send("Координатор Областной Главный")
    [reply] = await coordinator.send(f"/neworg {ORGANISATION}")
    code = LINK.search(reply.text).group(1)  # type: ignore[union-attr]
    person = world.person(701, "Прасковья")
    await person.send(f"/start {code}")
    await person.send(FULL_NAME)
    await person.send("/new")
    await person.press("Сотрудничество в сфере культуры и туризма")
    await person.send(EVENT["name"])
    await person.send(EVENT["place"])
    await person.send("26-27 октября 2023")
    await person.press("✔ Верно")
    await person.send(EVENT["result"])
    await person.send(EVENT["participants"])
    await person.press("IV квартал 2023 года")
    await person.press(Dialogue.SUBMIT)
    await person.send("/my")
    await person.send("Непонятное сообщение Шмидтовское")
    await world.person(999, "Аграфена").send(STRANGER_TEXT)
    await coordinator.send(f"/people {ORGANISATION}")
    await coordinator.send("/report 2023-Q4")
    await coordinator.send("/status")

    secrets = [ORGANISATION, FULL_NAME, *EVENT.values(), STRANGER_TEXT, "Шмидтовское"]
    secrets += ["Координатор Областной", "Квазиуникальн", "Неповторимова", "Зеркальнолунн"]
    [event] = await stored_events(app_storage.sessionmaker)
    assert (event.name, event.place) == (EVENT["name"], EVENT["place"])  # the dialogue ran
    assert coordinator.documents()  # and the report went out
    assert any(r.name.startswith("sqlalchemy.engine") for r in caplog.records)
    assert len(caplog.records) > 100  # the loggers did speak
    leaks = []
    for record in caplog.records:
        shown = record.getMessage() + (record.exc_text or "") + repr(record.args)
        leaks += [f"{record.name}: {secret}" for secret in secrets if secret in shown]
    assert leaks == []
