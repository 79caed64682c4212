"""Working days in Russia: weekends, public holidays and the transferred days off.

The calendar is the `holidays` package's (`country_holidays("RU")`), which follows the
government's yearly decrees on transferred days off (e.g. 9 January and 31 December 2026).

It is loaded on first use, and only the Russian one: `holidays.country_holidays` imports
the package `holidays.countries`, whose `__init__` imports every country's module (about
250 of them, a tenth of a second for a short command such as `python -m bot import`).
The Russian module (`holidays/countries/russia.py`) imports none of the others, so it is
loaded from its file under its own name; a later import of `holidays.countries` finds it
in `sys.modules` and uses the same module. Where the installed package keeps it
elsewhere, or the package is imported already, the calendar is `country_holidays("RU")`
(tests/test_workdays.py checks both give the same days).
"""

from __future__ import annotations

import sys
import threading
from datetime import date, timedelta
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from holidays import HolidayBase

RUSSIA_MODULE = "holidays.countries.russia"  # the `holidays` package's Russian calendar

_loading = threading.Lock()
_loaded: list[HolidayBase] = []


def _russian_module() -> Any | None:
    """`holidays.countries.russia`, loaded alone from its file; None where it is not one."""
    import holidays

    if (module := sys.modules.get(RUSSIA_MODULE)) is not None:
        return module
    if "holidays.countries" in sys.modules:
        return None  # every country is loaded already: nothing to spare
    path = Path(holidays.__file__).with_name("countries") / "russia.py"
    spec = spec_from_file_location(RUSSIA_MODULE, path)
    if spec is None or spec.loader is None or not path.is_file():
        return None
    module = module_from_spec(spec)
    sys.modules[RUSSIA_MODULE] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[RUSSIA_MODULE]
        raise
    return module


def _new_calendar() -> HolidayBase:
    module = _russian_module()
    if module is not None and isinstance(calendar := getattr(module, "Russia", None), type):
        return calendar()  # type: ignore[no-any-return]
    import holidays

    return holidays.country_holidays("RU")


def _calendar() -> HolidayBase:
    """The Russian calendar, made once per process; it fills in each year on first use."""
    if not _loaded:
        with _loading:
            if not _loaded:
                _loaded.append(_new_calendar())
    return _loaded[0]


def is_working_day(day: date) -> bool:
    """Whether `day` is a working day in Russia (a working Saturday counts as one)."""
    return bool(_calendar().is_working_day(day))


def next_working_day(day: date) -> date:
    """`day` itself if it is a working day, else the first working day after it."""
    while not is_working_day(day):
        day += timedelta(days=1)
    return day
