"""Every Russian text the bot shows in chat, one class per feature.

Texts with `{...}` are formatted with values that are already HTML-escaped by the caller.
"""

from typing import ClassVar


class Menu:
    """The command menus' descriptions (handlers/commands.py orders them per role)."""

    COMMANDS: ClassVar[dict[str, str]] = {
        "new": "Сообщить о мероприятии",
        "my": "Мои мероприятия",
        "nothing": "Мероприятий не было",
        "cancel": "Прервать заполнение",
        "name": "Исправить ФИО",
        "help": "Справка",
        "report": "Отчёт за квартал или год (.docx, .xlsx)",
        "stats": "Показатели и диаграмма",
        "status": "Кто отчитался за квартал",
        "remind": "Напомнить не отчитавшимся",
        "deadline": "Перенести срок сдачи",
        "close": "Закрыть квартал",
        "reopen": "Открыть квартал снова",
        "note": "Добавить примечание к отчёту",
        "notes": "Примечания к отчёту",
        "duplicates": "Возможные повторы мероприятий",
        "review": "Мероприятия, ожидающие проверки",
        "parent": "Вышестоящий орган организации",
        "reviewer": "Назначить проверяющего",
        "unreviewer": "Снять проверяющего",
        "orgs": "Организации",
        "neworg": "Добавить организацию и ссылку",
        "link": "Новая ссылка для организации",
        "revoke": "Отозвать ссылку",
        "people": "Сотрудники организации",
        "deactivate": "Отключить сотрудника",
        "persondata": "Сведения, хранимые о сотруднике",
        "erase": "Удалить персональные данные",
        "coordinator": "Назначить координатора",
    }


class Counted:
    """The forms of what is counted, for `reports.participants.plural(n, *FORMS)`: the
    one helper of number agreement (1 день, 2 дня, 5 дней)."""

    DAYS = ("день", "дня", "дней")
    DAYS_LEFT = ("остался", "осталось", "осталось")  # «остался 1 день», «осталось 3 дня»
    EVENTS = ("мероприятие", "мероприятия", "мероприятий")
    ORGANISATIONS = ("организация", "организации", "организаций")
    ROWS = ("строка", "строки", "строк")


class Common:
    # A date as an official letter writes it: «5 января 2027 г.» (handlers.views.long_date).
    LONG_DATE = "{day} {month} {year} г."
    # HELP_*, Dialogue.ASK["dates"], Periods.DEADLINE_USAGE and NOTE_USAGE are templates of
    # examples from the quarter being collected: `.format(**handlers.views.examples(q, today))`.
    START_KNOWN = (
        "Здравствуйте, {name}!\n"
        "Этот бот собирает сведения о международных мероприятиях для квартального отчёта.\n"
        "/new — сообщить о мероприятии\n/my — мои мероприятия\n/help — справка"
    )
    HELP_REPORTER = (
        "<b>Как сообщить о мероприятии</b>\n"
        "/new — новое мероприятие: бот задаст 7 вопросов, покажет итог, и вы отправите его.\n"
        "/my — ваши мероприятия за открытые кварталы: открыть, изменить, удалить, "
        "скопировать.\n"
        "/nothing — отметить, что у организации не было мероприятий за квартал.\n"
        "/cancel — прервать заполнение.\n"
        "/name — исправить ФИО.\n"
        "Даты можно писать как удобно: {day}, {days}, {month}."
    )
    HELP_COORDINATOR = (
        "\n\n<b>Координатору</b>\n"
        "/report — отчёт .docx (и .xlsx) за квартал (или /report {label}; "
        "за год — /report {label:.4})\n"
        "/stats — показатели в сравнении с прошлыми периодами, с диаграммой "
        "(или /stats {label}, /stats {label:.4})\n"
        "/status — кто отчитался за собираемый квартал (или /status {label})\n"
        "/remind — напомнить тем, кто ещё не отчитался\n"
        "/deadline {deadline} 18:00 — перенести срок (или /deadline {label} {deadline})\n"
        "/close, /reopen — закрыть квартал для изменений и открыть снова\n"
        "/note текст — примечание после таблицы (или /note {label} текст)\n"
        "/notes — примечания к отчёту, с кнопками удаления\n"
        "/duplicates — возможные повторы: похожие мероприятия разных организаций "
        "(или /duplicates {label}); /duplicates решённые — принятые по ним решения "
        "и их отмена\n"
        "/review — мероприятия, ожидающие проверки (или /review {label})\n"
        "/parent Организация | Орган — указать вышестоящий орган организации\n"
        "/reviewer ID Орган — назначить проверяющего органа, /unreviewer — снять\n"
        "/neworg Название — добавить организацию и получить ссылку для сотрудников\n"
        "/link Название — новая ссылка для организации\n"
        "/revoke КОД — отозвать ссылку\n"
        "/orgs — организации\n"
        "/people Название — сотрудники организации\n"
        "/deactivate ID — отключить сотрудника (ID — Telegram id)\n"
        "/persondata ID — какие сведения о сотруднике хранит бот\n"
        "/erase ID — удалить персональные данные сотрудника (мероприятия остаются)\n"
        "/coordinator ID — сделать сотрудника координатором (ID — Telegram id)\n"
        "Квартал по умолчанию — тот, отчёт за который сейчас собирается."
    )
    STRANGER = (
        "Извините, этот бот работает только для сотрудников зарегистрированных организаций. "
        "Чтобы присоединиться, откройте ссылку-приглашение от координатора."
    )
    STRANGER_ID = (
        "\nЕсли ссылки у вас нет, сообщите координатору ваш Telegram id: "
        "<code>{telegram_id}</code>."
    )

    @staticmethod
    def stranger(telegram_id: int) -> str:
        """The refusal a stranger's message gets: with their Telegram id for the coordinator."""
        return Common.STRANGER + Common.STRANGER_ID.format(telegram_id=telegram_id)

    # A button's alert is plain text of at most 200 characters (Telegram's limit).
    STRANGER_ALERT = (
        "Бот работает только для сотрудников зарегистрированных организаций. "
        "Откройте ссылку-приглашение от координатора или сообщите ему ваш "
        "Telegram id: {telegram_id}."
    )

    @staticmethod
    def stranger_alert(telegram_id: int) -> str:
        """The alert a stranger's button press gets: plain text, with their Telegram id."""
        return Common.STRANGER_ALERT.format(telegram_id=telegram_id)

    GROUPS_ONLY_PRIVATE = "Бот работает только в личных сообщениях."
    COORDINATOR_ONLY = "Эта команда доступна только координатору."
    STALE_BUTTON = "Эта кнопка устарела или недоступна."
    NOT_UNDERSTOOD = "Сообщение не распознано. /new — сообщить о мероприятии, /help — справка."
    ERROR = "Произошла ошибка, ничего не потеряно. Попробуйте, пожалуйста, ещё раз."


class Join:
    BAD_CODE = (
        "Ссылка-приглашение недействительна или устарела. "
        "Попросите, пожалуйста, координатора прислать новую."
    )

    @staticmethod
    def bad_code(telegram_id: int) -> str:
        """The refusal of a bad link: with the stranger's Telegram id for the coordinator."""
        return Join.BAD_CODE + Common.STRANGER_ID.format(telegram_id=telegram_id)

    ALREADY = "Вы уже зарегистрированы ({organisation}). /help — что умеет бот."
    # Personal data: what is kept and why, shown before the name is asked.
    PRIVACY = (
        "<i>Бот хранит ваши фамилию, имя и отчество, Telegram id, организацию и сведения "
        "о мероприятиях, о которых вы сообщаете, — только для составления квартального "
        "отчёта о международных мероприятиях. Удалить сведения о себе можно по просьбе "
        "к координатору; мероприятия при этом остаются в отчёте организации.</i>"
    )
    ASK_NAME = (
        "Вы присоединяетесь к организации «{organisation}».\n"
        "Напишите, пожалуйста, ваши фамилию, имя и отчество.\n\n" + PRIVACY
    )
    BAD_NAME = (
        "Пожалуйста, напишите фамилию, имя и отчество текстом: не менее двух слов, "
        "не длиннее {limit} символов. Прервать: /cancel."
    )
    SETUP_ASK_NAME = (
        "Вы станете координатором: будете получать отчёты, видеть, кто отчитался, "
        "и приглашать организации.\n"
        "Напишите, пожалуйста, ваши фамилию, имя и отчество.\n\n" + PRIVACY
    )
    SETUP_WELCOME = (
        "Спасибо, {name}! Вы назначены координатором. Ссылка первого запуска больше "
        "не действует.\n"
        "Далее: /neworg Название — добавить организацию и получить ссылку для её "
        "сотрудников; /help — все команды координатора."
    )
    ASK_OWN_NAME = (
        "Как к вам обращаться? Напишите, пожалуйста, ваши фамилию, имя и отчество: "
        "они видны в сведениях о мероприятиях."
    )
    # A coordinator from COORDINATOR_IDS, after their first update other than /start.
    ASK_NAME_AFTER = (
        "Ваши фамилия, имя и отчество пока не указаны: в сведениях вы значитесь как "
        "«{name}». Чтобы указать их, отправьте /name."
    )
    RENAMED = "Спасибо, {name}! ФИО сохранены. /help — справка."
    RENAME_CANCELLED = "ФИО не изменены."
    NAME_AFTER_DIALOGUE = (
        "Сначала завершите заполнение сведений о мероприятии или прервите его командой "
        "/cancel (черновик сохранится до отмены), затем отправьте /name."
    )
    CANCELLED = "Регистрация прервана. Чтобы присоединиться, откройте ссылку-приглашение ещё раз."
    WELCOME = (
        "Спасибо, {name}! Вы зарегистрированы как сотрудник организации «{organisation}».\n"
        "/new — сообщить о мероприятии, /help — справка."
    )


class Dialogue:
    STEP = "<i>Шаг {number} из 7.</i> "
    ASK: ClassVar[dict[str, str]] = {
        "sphere": "Выберите сферу сотрудничества:",
        "name": "Напишите название мероприятия.",
        "place": "Где проходило мероприятие? (город, страна, учреждение)",
        "dates": "Когда проходило мероприятие? Например: {day}, {days}, {months}, {month}.",
        "result": (
            "Опишите цель, содержание и результат мероприятия (в том числе достигнутые "
            "договоренности, подписанные документы)."
        ),
        "participants": (
            "Кто участвовал? Укажите участников и, если знаете, общее количество "
            "(например: «Общее количество участников – 18 человек»)."
        ),
        "period": "В отчёт за какой квартал включить мероприятие?",
    }
    # A start date after today (handlers/report.py _take_dates); `start` as format_dates.
    NOT_STARTED = (
        "Мероприятие ещё не началось (дата начала — {start}), а в отчёт включаются "
        "проведённые мероприятия. Укажите, пожалуйста, даты мероприятия, которое уже "
        "состоялось или проходит сейчас."
    )
    CURRENT = "\nСейчас: «{value}»"
    # Before the step's question shown again after a failure (see report.repeat_question):
    # the step is the stored one, whether or not the failed answer was saved.
    AFTER_ERROR = "Произошла ошибка, но черновик сохранён. Продолжим с текущего шага:"
    # A retry of an answer whose save was reported as failed, though it went through.
    ALREADY_SAVED = "Этот ответ уже сохранён. Продолжим с текущего шага:"
    # A text written before the person saw a question owed after a crash (bot/owed.py).
    NOT_TAKEN = (
        "Это сообщение отправлено до того, как пришёл вопрос выше, и не сохранено. "
        "Пожалуйста, ответьте на вопрос выше."
    )
    ASK_COUNT = "Сколько всего было участников? Напишите число или нажмите «Не знаю»."
    BAD_COUNT = "Пожалуйста, напишите число участников цифрами, например 18."
    APPROXIMATE_COUNT = (
        "Здесь нужно точное число участников цифрами, например 18. Если известно только "
        "примерное («{total}»), допишите его в ответ об участниках (кнопка «Назад») "
        "или нажмите «Не знаю»."
    )
    CONFIRM_DATES = "Даты в отчёте будут такими: <b>{dates}</b>\nВерно?"
    # reports.dates' own "empty"/"unreadable" texts carry fixed examples: the dialogue's
    # are those of the quarter being collected, so the example typed back is accepted.
    DATES_REFUSED: ClassVar[dict[str, str]] = {
        "empty": "Напишите, пожалуйста, даты мероприятия, например: {day}, {days} или {month}.",
        "unreadable": "Не удалось распознать даты. Напишите, например: {day}, {days} или {month}.",
    }
    OFFER_NOTE = (
        "\nМожно сохранить текст как есть — в отчёте он будет напечатан без изменений "
        "(место строки в таблице определит дата {start})."
    )
    # A long paste arrives as several messages (see report._whole_text).
    PASTE_PART = (
        "Получена часть текста ({length} симв.): Telegram делит длинный текст на несколько "
        "сообщений. Ожидается продолжение. Если это весь текст, нажмите «Это весь текст»."
    )
    PASTE_LATE = (
        "Это сообщение ({late} симв.) пришло позже полученной ранее части текста "
        "({length} симв.). Соединить их в один ответ?"
    )
    PASTE_TOO_LONG = (
        "Текст целиком слишком длинный: {length}, можно не больше {limit}. "
        "Ничего не сохранено. Сократите, пожалуйста, и отправьте заново."
    )
    PASTE_DROPPED = "Полученная ранее часть текста ({length} симв.) не сохранена."
    WHOLE_TEXT = "Это весь текст"
    JOIN_PARTS = "Соединить"
    ONLY_LATE = "Только новое сообщение"
    ONLY_PARTS = "Только прежнюю часть"
    NEED_TEXT = "Пожалуйста, ответьте текстом."
    NEED_BUTTON = "Пожалуйста, выберите вариант кнопкой под сообщением."
    EMPTY = "Ответ пустой. Напишите, пожалуйста, текст."
    TOO_LONG = "Текст слишком длинный: {length}, можно не больше {limit}. Сократите, пожалуйста."
    NO_SPHERES = "Список сфер пуст. Обратитесь, пожалуйста, к координатору."
    NO_OPEN_PERIODS = (
        "Приём сведений сейчас закрыт: открытых отчётных периодов нет. "
        "Обратитесь, пожалуйста, к координатору."
    )
    PERIOD_CLOSED = "Этот квартал уже закрыт. Выберите, пожалуйста, другой."
    SUMMARY_HEAD = "<b>Проверьте мероприятие</b>"
    SUMMARY_EDIT_HEAD = "<b>Изменение мероприятия №{id}</b>"
    SUMMARY_FIELDS = (
        "<b>Сфера:</b> {sphere}\n"
        "<b>Название:</b> {name}\n"
        "<b>Место:</b> {place}\n"
        "<b>Сроки:</b> {dates}\n"
        "<b>Цель, содержание и результат:</b> {result}\n"
        "<b>Участники:</b> {participants}\n"
        "<b>Количество участников:</b> {count}\n"
        "<b>Квартал:</b> {period}"
    )
    SUMMARY_FOOT = "\nЧтобы исправить поле, нажмите на кнопку с его названием."
    MISSING = "не указано"
    UNKNOWN_COUNT = "не указано"
    MISSING_FIELDS = "Заполните, пожалуйста: {fields}."
    SUBMITTED = (
        "Мероприятие сохранено и войдёт в отчёт за {period}. Спасибо!\n"
        "/new — ещё одно, /my — мои мероприятия."
    )
    UPDATED = "Изменения сохранены. /my — мои мероприятия."
    NO_LONGER_CHANGEABLE = (
        "Это мероприятие уже нельзя изменить: его квартал закрыт или оно удалено. "
        "/my — мои мероприятия."
    )
    ALREADY_SUBMITTED = "Это мероприятие уже отправлено. /my — мои мероприятия."
    SAVED_ALREADY = "Мероприятие уже сохранено. Повторно отправлять его не нужно."
    CANCELLED = "Заполнение прервано, черновик удалён. /new — начать заново."
    # A new start (/new, «Копировать», «Изменить», a reminder's button) or «Отмена» while
    # a draft has answers: nothing is thrown away without asking (see report.in_progress).
    DRAFT_IN_PROGRESS = (
        "Заполнение сведений о мероприятии не завершено. Продолжить черновик или начать "
        "заново? При новом начале черновик будет удалён."
    )
    CONFIRM_DROP = "Удалить черновик? Внесённые ответы не сохранятся."
    CONFIRM_DROP_EDIT = (
        "Отменить изменение мероприятия №{id}? Внесённые изменения не сохранятся, "
        "мероприятие останется прежним."
    )
    EDIT_CANCELLED = "Изменения не сохранены, мероприятие осталось прежним. /my — мои мероприятия."
    NO_PERIOD_AT_STEP = (
        "\nПриём сведений сейчас закрыт: открытых кварталов нет. Черновик сохранён: "
        "/new — продолжить его, когда координатор откроет приём сведений."
    )
    PERIOD_CLOSED_KEPT = (
        "Приём сведений за {period} закрыт, других открытых кварталов нет. Черновик "
        "сохранён: его можно будет отправить, когда координатор откроет приём сведений."
    )
    NOTHING_TO_CANCEL = "Нечего отменять. /new — сообщить о мероприятии."
    QUARTER = "{roman} квартал {year} года"
    FIELD_NAMES: ClassVar[dict[str, str]] = {
        "sphere": "Сфера",
        "name": "Название",
        "place": "Место",
        "dates": "Сроки",
        "result": "Результат",
        "participants": "Участники",
        "period": "Квартал",
    }
    BACK = "◀ Назад"
    CANCEL = "✖ Отмена"
    YES = "✔ Верно"
    FIX = "✎ Исправить"
    KEEP = "Оставить как есть"
    RESUME = "Продолжить черновик"
    RESTART = "Начать заново"
    DROP_YES = "Да, удалить"
    DROP_NO = "Нет, продолжить"
    DROP_EDIT_YES = "Да, отменить изменения"
    KEEP_NOTE = "Сохранить как написано"
    DONT_KNOW = "Не знаю"
    SUBMIT = "✅ Отправить"
    SAVE = "✅ Сохранить изменения"
    DEFAULT_MARK = " (по умолчанию)"
    # Before the sphere chosen earlier: pressing it keeps it (handlers/keyboards.py).
    CHOSEN_MARK = "✓ "


class MyEvents:
    EMPTY = "У вас нет мероприятий в открытых кварталах. /new — сообщить о мероприятии."
    ORG_EMPTY = "У вашей организации нет мероприятий в открытых кварталах."
    HEAD = "<b>Ваши мероприятия</b> (открытые кварталы):"
    ORG_HEAD = "<b>Мероприятия организации</b> (открытые кварталы):"
    EARLIER_HEAD = "<b>Более ранние мероприятия</b> — можно скопировать как основу нового:"
    EARLIER_EMPTY = "Более ранних мероприятий нет."
    SHOW_ORG = "Мероприятия коллег"
    SHOW_MINE = "Только мои"
    SHOW_EARLIER = "Более ранние"
    SHOW_YEAR = "Год назад"
    SHOW_SEARCH = "Поиск по названию"
    YEAR_HEAD = (
        "<b>{period}</b>: мероприятия того же квартала прошлого года, в том числе из "
        "загруженных отчётов. Можно скопировать как основу нового:"
    )
    YEAR_EMPTY = "За {period} мероприятий нет."
    SEARCH_ASK = "Напишите слово из названия мероприятия, например: выставка."
    SEARCH_HEAD = (
        "<b>Мероприятия со словом «{word}»</b>, в том числе из загруженных отчётов. "
        "Можно скопировать как основу нового:"
    )
    SEARCH_EMPTY = "Мероприятий со словом «{word}» в названии не найдено."
    SEARCH_BAD_WORD = "Напишите, пожалуйста, слово из названия: от {low} до {high} символов."
    SEARCH_NEED_TEXT = "Пожалуйста, напишите слово из названия текстом."
    PAGE = "\nСтраница {page} из {pages}."
    PREVIOUS = "◀ Предыдущие"
    NEXT = "Следующие ▶"
    CARD = "<b>Мероприятие №{id}</b> · {status}\n{fields}\n<i>Автор: {author}</i>"
    STATUS: ClassVar[dict[str, str]] = {
        "submitted": "отправлено",
        "draft": "черновик",
        "deleted": "удалено",
    }
    EDIT = "✎ Изменить"
    DELETE = "🗑 Удалить"
    COPY = "⧉ Копировать"
    CONFIRM_DELETE = "Удалить мероприятие «{name}»? Оно исчезнет из отчёта."
    YES_DELETE = "Да, удалить"
    NO = "Нет"
    DELETED = "Мероприятие удалено."
    NOT_DELETED = "Удаление отменено."
    CLOSED = "Квартал закрыт: изменить или удалить это мероприятие нельзя, только скопировать."
    COPIED = (
        "Копия создана. Напишите, пожалуйста, сроки нового мероприятия сообщением "
        "или нажмите «Сроки»."
    )


class Desk:
    # The last word of `/report 2023-Q4 принятые`: the accepted events only.
    ACCEPTED_WORDS = ("принятые", "accepted")
    CHOOSE_PERIOD = "За какой период сформировать отчёт?"
    NO_PERIODS = "Отчётных периодов пока нет."
    NO_PERIOD = "Сведений за {period} нет: мероприятия за этот квартал не подавались."
    # `{label:.4}` is the year of the example quarter (`2027-Q1` → `2027`).
    BAD_PERIOD = (
        "Период указан неверно: «{value}». Пример: /report {label} — за квартал, "
        "/report {label:.4} — за год."
    )
    EMPTY = "В отчёте за {period} пока нет ни одного мероприятия."
    CAPTION = "Отчёт за {period}: мероприятий — {count}."
    TOO_LARGE = (
        "Отчёт за {period} получился слишком большим для Telegram: {size} МБ при пределе "
        "{limit} МБ. Сформируйте его, пожалуйста, на сервере командой <code>{command}</code>."
    )
    ORG_USAGE = "Напишите название после команды, например: /neworg Смоленский областной музей"
    ORG_CREATED = "Организация «{name}» добавлена."
    ORG_LINK = (
        "Ссылка для сотрудников «{name}» (действует до {expires}):\n{link}\n"
        "Код для отзыва: <code>{code}</code>"
    )
    ORG_NOT_FOUND = "Организации «{name}» нет. /orgs — список."
    ORGS_HEAD = "<b>Организации</b>"
    ORGS_EMPTY = "Организаций пока нет. /neworg Название — добавить."
    ORG_LINE = "• {name} — сотрудников: {people}"
    REVOKE_USAGE = "Напишите код после команды: /revoke КОД"
    REVOKED = "Ссылка отозвана."
    REVOKE_NOT_FOUND = "Такого кода нет."
    COORD_USAGE = "Напишите Telegram id сотрудника: /coordinator 123456789"
    COORD_NOT_FOUND = (
        "Сотрудник с Telegram id {id} не найден: сначала необходимо присоединиться "
        "по ссылке-приглашению."
    )
    COORD_DONE = "{name} теперь координатор."
    XLSX = "Скачать .xlsx"
    PEOPLE_USAGE = "Напишите название организации: /people Смоленский областной музей"
    PEOPLE_HEAD = "<b>Сотрудники «{name}»</b>"
    PEOPLE_EMPTY = "В организации «{name}» пока нет сотрудников. /link {name} — ссылка для них."
    PERSON_LINE = "• {name} — id <code>{telegram_id}</code>{marks}"
    COORDINATOR_MARK = ", координатор"
    INACTIVE_MARK = ", доступ отключён"
    UNREACHABLE_MARK = ", сообщения не доставляются с {since} (бот заблокирован)"
    DEACTIVATE_USAGE = "Напишите Telegram id сотрудника: /deactivate 123456789 (см. /people)"
    DEACTIVATE_NOT_FOUND = "Сотрудник с Telegram id {id} не найден. /people Название — список."
    DEACTIVATE_ALREADY = "{name}: доступ к боту уже отключён."
    DEACTIVATE_SELF = "Отключить самого себя нельзя."
    DEACTIVATE_CONFIGURED = (
        "{name}: Telegram id указан в настройках как id координатора (COORDINATOR_IDS), "
        "при перезапуске бота доступ будет восстановлен. Удалите этот id из настроек."
    )
    DEACTIVATE_CONFIRM = (
        "Отключить доступ к боту: {name} ({organisation})? Мероприятия сотрудника "
        "останутся в отчётах. Восстановить доступ можно по новой ссылке-приглашению."
    )
    DEACTIVATE_YES = "Да, отключить"
    DEACTIVATE_NO = "Нет"
    DEACTIVATED = "{name}: доступ к боту отключён."
    NOT_DEACTIVATED = "Отключение отменено."
    NO_ORGANISATION = "без организации"
    # Personal data: erasing a person, and what is kept about one.
    ERASED_AUTHOR = "сотрудник удалён"
    ERASE_USAGE = "Напишите Telegram id сотрудника: /erase 123456789 (см. /people)"
    ERASE_SELF = "Удалить собственные персональные данные нельзя: попросите другого координатора."
    ERASE_CONFIGURED = (
        "{name}: Telegram id указан в настройках как id координатора (COORDINATOR_IDS). "
        "Сначала удалите этот id из настроек и перезапустите бота."
    )
    ERASE_CONFIRM = (
        "Удалить персональные данные: {name} ({organisation})?\n"
        "ФИО и Telegram id будут удалены безвозвратно, черновик — тоже. Мероприятия "
        "сотрудника останутся в отчётах организации с отметкой «сотрудник удалён». "
        "Сообщения с этого Telegram-аккаунта бот будет принимать как от незнакомого "
        "человека."
    )
    ERASE_YES = "Да, удалить данные"
    ERASE_NO = "Нет"
    ERASED = (
        "Персональные данные удалены: {name}. Мероприятия сотрудника ({count}) остались "
        "в отчётах организации."
    )
    NOT_ERASED = "Удаление персональных данных отменено."
    PERSONDATA_USAGE = "Напишите Telegram id сотрудника: /persondata 123456789 (см. /people)"
    PERSONDATA_HEAD = (
        "<b>Сведения о сотруднике, которые хранит бот</b>\n"
        "ФИО: {name}\n"
        "Telegram id: <code>{telegram_id}</code>\n"
        "Организация: {organisation}\n"
        "Роль: {role}\n"
        "Доступ к боту: {access}\n"
        "Присоединение: {joined}\n"
        "Сообщения не доставляются с: {unreachable}\n"
        "Мероприятия, о которых сообщил сотрудник: {count}"
    )
    PERSONDATA_EVENT = "• №{id} {name} — {period}, {status}"
    ROLE: ClassVar[dict[str, str]] = {"reporter": "сотрудник", "coordinator": "координатор"}
    ACCESS_ON = "включён"
    ACCESS_OFF = "отключён"
    NOT_SET = "—"


class Years:
    """The yearly report: the four quarters of a year in one document."""

    LABEL = "{year} год"
    NO_PERIOD = "Сведений за {year} год нет: мероприятия за этот год не подавались."


class Indicators:
    """/stats: the picture of a period's events against the periods before, and its figures."""

    # `{label:.4}` is the year of the example quarter (`2027-Q1` → `2027`).
    BAD_PERIOD = (
        "Период указан неверно: «{value}». Пример: /stats {label} — за квартал, "
        "/stats {label:.4} — за год."
    )
    EMPTY = "Мероприятий за {period} и за периоды для сравнения ({others}) нет."
    TITLE = "Мероприятия за {period} в сравнении с {others}"  # the picture's title
    HEAD = "<b>Показатели за {period}</b>"
    TOTAL = "Всего мероприятий: {count} ({others})."
    OTHER = "{period} — {count}"
    LEGEND = "В скобках: {periods}"
    SPHERES = "<b>По сферам сотрудничества</b>"
    ORGANISATIONS = "<b>По организациям</b>"
    LINE = "• {name}: {count} ({others})"
    MORE = "Подробные показатели — в следующем сообщении."


class Periods:
    """The coordinator's periods: deadline, closing, status, reminders, closing notes."""

    NO_PERIOD = "Сведений за {period} нет: мероприятия за этот квартал не подавались."
    # `example` holds `{label}`, the quarter being collected (handlers/views.py find_period).
    BAD_PERIOD = "Квартал указан неверно: «{value}». Пример: {example}"
    DEADLINE_USAGE = (
        "Напишите новый срок: /deadline {deadline} или /deadline {deadline} 18:00, "
        "для другого квартала — /deadline {label} {deadline} 18:00 (время местное)."
    )
    DEADLINE_NO_SUCH_DATE = "Такой даты или времени нет: «{value}». Проверьте, пожалуйста."
    DEADLINE_PAST = "Этот срок уже прошёл ({deadline}). Укажите, пожалуйста, дату в будущем."
    DEADLINE_BEFORE_END = (
        "Срок не может быть раньше окончания квартала: {period} заканчивается {last_day}. "
        "Укажите дату начиная с {first_day}."
    )
    DEADLINE_TOO_LATE = (
        "Срок сдачи отчёта за {period} можно установить не позднее {latest} — через год "
        "после окончания квартала. Укажите, пожалуйста, более раннюю дату."
    )
    DEADLINE_SET = "Срок сдачи отчёта за {period}: {deadline} (было {previous})."
    # Before DEADLINE_SET when the date typed is a day off (reports/workdays.py).
    DEADLINE_DAY_OFF = "{day} — нерабочий день; срок перенесён на {moved}\n"
    DEADLINE_CLOSED_NOTE = (
        "\nПриём сведений закрыт: сотрудники не могут вносить изменения. /reopen — открыть."
    )
    CLOSED = (
        "Приём сведений за {period} закрыт: сотрудники больше не могут добавлять, изменять "
        "и удалять мероприятия за этот квартал. /reopen — открыть снова."
    )
    ALREADY_CLOSED = "Приём сведений за {period} уже закрыт. /reopen — открыть снова."
    CLOSE_RETURNED = (
        "За {period} возвращено на доработку и ещё не исправлено: {count}. После закрытия "
        "авторы не смогут их исправить. Закрыть приём сведений?"
    )
    CLOSE_YES = "Да, закрыть"
    CLOSE_NO = "Нет, оставить открытым"
    CLOSE_KEPT_OPEN = "Приём сведений за {period} остаётся открытым."
    REOPENED = (
        "Приём сведений за {period} снова открыт: сотрудники могут добавлять и изменять "
        "мероприятия."
    )
    ALREADY_OPEN = "Приём сведений за {period} уже открыт."
    SCHEDULE_FAILED = "\nРасписание напоминаний обновить не удалось; оно обновится само ночью."
    STATUS_HEAD = "<b>Сбор отчёта за {period}</b>\nСрок: {deadline} · {state}"
    STATE_OPEN = "приём сведений открыт"
    STATE_CLOSED = "приём сведений закрыт"
    STATUS_SUMMARY = (
        "Организаций: {total}\n"
        "✅ прислали мероприятия: {reported} (мероприятий: {events}, после срока: {late})\n"
        "➖ мероприятий не было: {nothing}\n"
        "❌ не отчитались: {missing}\n"
        "✏️ заполняют сейчас: {drafts}"
    )
    STATUS_EMPTY = "Организаций с сотрудниками пока нет. /neworg Название — добавить."
    STATUS_MISSING_HEAD = "\n<b>Не отчитались:</b>"
    STATUS_REPORTED_HEAD = "\n<b>Прислали мероприятия:</b>"
    STATUS_NOTHING_HEAD = "\n<b>Мероприятий не было:</b>"
    LINE_MISSING = "❌ {name}"
    LINE_REPORTED = "✅ {name} — {events}"
    LINE_LATE = ", после срока: {late} ⏰"
    LINE_NOTHING = "➖ {name}"
    LINE_DRAFTS = " · заполняют: {drafts}"
    LINE_NOBODY_REACHABLE = " · сотрудники не получают сообщения бота"
    LINE_UNREACHABLE = " · не получают сообщения бота: {unreachable} из {reporters}"
    STATUS_UNREACHABLE = (
        "📵 сотрудники, которые не получают сообщения бота (бот заблокирован): {people}; "
        "/people Название — кто именно"
    )
    EVENTS_COUNT = "мероприятий: {count}"
    LINE_REVIEW = " (принято: {accepted}, возвращено и не исправлено: {returned})"
    STATUS_REVIEW = (
        "🔎 на проверке: {pending}, принято: {accepted}, возвращено и не исправлено: {returned}"
    )
    REMIND_NOT_CONFIGURED = "Напоминания не настроены: отправить их сейчас нельзя."
    REMIND_CLOSED = "Приём сведений за {period} закрыт: напоминать не о чем. /reopen — открыть."
    REMIND_NOBODY = "Напоминать некому: все организации за {period} отчитались."
    REMIND_DONE = (
        "Напоминание за {period} отправлено: организаций — {organisations}, сотрудников — {people}."
    )
    REMIND_NONE_SENT = "Новых напоминаний за {period} не отправлено."
    REMIND_FAILED = "\nНе доставлено: {count} (бот заблокирован или Telegram не ответил)."
    REMIND_SKIPPED = "\nНе напоминали (им уже напоминали в течение часа):"
    REMIND_UNREACHABLE = (
        "\nНе напоминали: сотрудники этих организаций заблокировали бота и не получают "
        "его сообщения (/people Название — кто именно):"
    )
    NOTE_USAGE = (
        "Напишите текст примечания после команды: /note В {roman} квартале {year} года "
        "состоялись 3 встречи… Для другого квартала: /note {label} текст."
    )
    NOTE_EXAMPLE = "/note {label} текст"  # the example of Periods.BAD_PERIOD after /note
    NOTE_TOO_LONG = "Примечание слишком длинное: {length}, можно не больше {limit}."
    NOTE_ADDED = (
        "Примечание добавлено в отчёт за {period} (после таблицы). /notes — все примечания."
    )
    NOTES_HEAD = "<b>Примечания к отчёту за {period}</b> — печатаются после таблицы в этом порядке:"
    NOTES_EMPTY = "Примечаний к отчёту за {period} нет. /note текст — добавить."
    NOTE_LINE = "{number}. {text}"
    NOTE_DELETE = "🗑 Удалить"
    NOTE_DELETED = "Примечание удалено: «{text}»"
    NOTE_GONE = "Это примечание уже удалено."


class Nothing:
    """«Мероприятий не было»: /nothing and its button (results are in `Reminders`)."""

    OFFER = (
        "Если у организации «{organisation}» не было международных мероприятий за {period}, "
        "нажмите кнопку. Это засчитается как отчёт; если мероприятие найдётся, "
        "сообщите о нём (/new) — отметка снимется сама."
    )
    ALREADY = "Уже отмечено: у организации «{organisation}» не было мероприятий за {period}."
    HAS_EVENTS = (
        "От организации «{organisation}» уже есть мероприятия за {period} ({count}): "
        "отметка «мероприятий не было» не нужна."
    )
    NOT_SAID = "Отметки «мероприятий не было» за {period} нет."
    WITHDRAWN_ON_SUBMIT = "\nОтметка «мероприятий не было» за {period} снята."
    PERIOD_CLOSED_FOR_NEW = (
        "Приём сведений за {period} уже закрыт. Мероприятие можно отнести к открытому кварталу."
    )


class Reminders:
    """Reminders before the deadline, the coordinators' digest, the manual nudge."""

    BEFORE = (
        "Напоминание: до срока сдачи отчёта за {period} {days} — до {deadline}.\n"
        "От вашей организации («{organisation}») пока нет ни одного мероприятия. "
        "Сообщите о мероприятиях или отметьте, что их не было."
    )
    DEADLINE = (
        "Сегодня, {deadline}, последний день сдачи отчёта за {period}. "
        "От вашей организации («{organisation}») пока нет ни одного мероприятия. "
        "Сообщите о мероприятиях или отметьте, что их не было."
    )
    MANUAL = (
        "Координатор напоминает: ожидаются сведения о международных мероприятиях за {period} "
        "(срок — {deadline}). Организация: «{organisation}»."
    )
    DIGEST_HEAD = "<b>Отчёт за {period}: срок прошёл {deadline}.</b>"
    DIGEST_MISSING = "Не отчитались ({count}):"
    DIGEST_ALL_DONE = "Все организации отчитались. Спасибо!"
    DIGEST_LINE = "• {organisation}"
    DIGEST_MORE = "… и ещё {more}: полный список — /status {label}"
    DIGEST_UNREACHABLE = " — сотрудники не получают сообщения бота"
    NEW_REPORT = "Сообщить о мероприятии"
    NOTHING = "Мероприятий не было"
    RETURNED = (
        "Напоминание: до {deadline} следует исправить мероприятия за {period}, "
        "возвращённые на доработку:\n{events}\n"
        "Нажмите «Исправить», внесите изменения и сохраните их."
    )
    RETURNED_LINE = "• №{id} «{name}»"
    RETURNED_MORE = "• и ещё {more}: /my — ваши мероприятия"
    RETURNED_FIX = "✎ Исправить №{id}"
    NOTHING_DONE = (
        "Отмечено: у организации «{organisation}» не было мероприятий за {period}. "
        "Если мероприятие всё же было, нажмите «Отменить отметку» или сообщите о нём."
    )
    NOTHING_UNDO = "Отменить отметку"
    NOTHING_UNDONE = "Отметка «мероприятий не было» за {period} снята."
    NOTHING_CLOSED = "Приём сведений за {period} закрыт: отметку изменить нельзя."
    NOTHING_NO_ORG = "Вы не прикреплены к организации: отметка недоступна."


class Duplicates:
    """Suspected duplicates: the author's warning at «Отправить», the coordinator's list."""

    WARNING = (
        "<b>Другая организация уже сообщила о похожем мероприятии за этот квартал:</b>\n"
        "{lookalikes}\n\n"
        "Если это одно совместное мероприятие, координатор сможет объединить сведения "
        "в одну строку отчёта. Отправить мероприятие?"
    )
    WARNING_EDIT = (
        "<b>Другая организация уже сообщила о похожем мероприятии за этот квартал:</b>\n"
        "{lookalikes}\n\n"
        "Если это одно совместное мероприятие, координатор сможет объединить сведения "
        "в одну строку отчёта. Сохранить изменения?"
    )
    LOOKALIKE = "• «{name}» — {organisation}, {dates}"
    MORE = "• и ещё {more}"
    FORCE = "Всё равно отправить"
    FORCE_SAVE = "Всё равно сохранить"
    TO_SUMMARY = "Вернуться к сводке"
    BAD_PERIOD = "Квартал указан неверно: «{value}». Пример: /duplicates {label}"
    NO_PERIOD = "Сведений за {period} нет: мероприятия за этот квартал не подавались."
    NONE = "Возможных повторов за {period} нет."
    HEAD = "<b>Возможный повтор {number} из {count}</b> ({period})"
    EVENT = "<b>{organisation}</b>, мероприятие №{id}\n«{name}»\nМесто: {place}\nСроки: {dates}"
    FOOT = (
        "Объединённые мероприятия войдут в отчёт одной строкой: места, результаты и "
        "участники обоих, обе организации в .xlsx. Мероприятия, отмеченные как разные, "
        "больше не будут предлагаться."
    )
    CLOSED_NOTE = "Квартал закрыт: решения принимаются после /reopen."
    MERGE = "Объединить"
    APART = "Это разные мероприятия"
    PREVIOUS = "◀ Предыдущий"
    NEXT = "Следующий ▶"
    MERGED = "Мероприятия №{first} и №{second} объединены: в отчёте одна строка."
    KEPT_APART = "Мероприятия №{first} и №{second} отмечены как разные."
    CLOSED = (
        "Приём сведений за {period} закрыт. Чтобы принять решение, откройте квартал снова "
        "(/reopen)."
    )
    DONE = "Возможных повторов за {period} больше нет. /report — отчёт."
    UNDO = "Отменить решение"
    DECIDED_LIST = "Решённые пары"
    DECIDED_WORDS = ("решённые", "решенные")
    DECIDED_HEAD = "<b>Решённая пара {number} из {count}</b> ({period})"
    DECIDED_MERGED_NOTE = "Решение: объединены в одну строку отчёта."
    DECIDED_APART_NOTE = "Решение: отмечены как разные мероприятия."
    DECIDED_CLOSED_NOTE = "Квартал закрыт: решения отменяются после /reopen."
    DECIDED_NONE = "Решённых пар за {period} нет."
    UNDONE = "Решение по мероприятиям №{first} и №{second} отменено: пара снова ожидает решения."
    UNDO_CLOSED = (
        "Приём сведений за {period} закрыт. Чтобы отменить решение, откройте квартал снова "
        "(/reopen)."
    )
    # A merge dissolved by a change of one of its events, told to whoever decided it;
    # `{next}` is the command that person has for the pairs (DISSOLVED_NEXT, by role).
    DISSOLVED = (
        "<b>Объединение мероприятий отменено</b>\n"
        "{lines}\n\n"
        "Эти мероприятия больше не объединяются в одну строку отчёта. {next}"
    )
    DISSOLVED_NEXT: ClassVar[dict[str, str]] = {
        "coordinator": "/duplicates — возможные повторы.",
        "reviewer": "/review — мероприятия и возможные повторы, ожидающие решения.",
    }
    DISSOLVED_DELETED = (
        "• №{first} и №{second}: мероприятие №{id} «{name}» ({organisation}) удалено."
    )
    DISSOLVED_MOVED = (
        "• №{first} и №{second}: мероприятие №{id} «{name}» ({organisation}) перенесено в {period}."
    )
    DISSOLVED_UNLIKE = (
        "• №{first} и №{second}: мероприятие №{id} «{name}» ({organisation}) изменено "
        "и больше не совпадает с мероприятием №{other} по срокам, названию или месту."
    )


class ReviewPairs:
    """/review's suspected duplicates: the pairs this reviewer may decide."""

    LINE = "Возможные повторы ({period}) ожидают решения: {count}."
    BUTTON = "Возможные повторы ({count})"
    BUTTON_PERIOD = "Возможные повторы, {period} ({count})"


class Review:
    """The review of submitted events: decisions, the author's notices, history, /review."""

    STATES: ClassVar[dict[str, str]] = {
        "pending": "на проверке",
        "accepted": "принято",
        "returned": "возвращено на доработку",
    }
    COMMENT_LINE = "\n<b>Комментарий проверяющего:</b> {comment}"
    ACCEPT = "✅ Принять"
    RETURN = "↩ Вернуть"
    FIX = "✎ Исправить"
    HISTORY = "🕓 История"
    CANCEL = "✖ Отмена"
    ASK_COMMENT = (
        "Мероприятие №{id} «{name}» будет возвращено автору на доработку.\n"
        "Напишите, пожалуйста, комментарий одним сообщением (не более {limit} символов)."
    )
    COMMENT_TOO_LONG = (
        "Комментарий слишком длинный ({length}); допустимо не более {limit} символов. "
        "Сократите его, пожалуйста, и отправьте ещё раз."
    )
    COMMENT_EMPTY = "Комментарий пустой. Напишите, пожалуйста, что следует исправить."
    RETURN_CANCELLED = "Возврат отменён: мероприятие №{id} осталось в прежнем состоянии."
    DRAFT_FIRST = (
        "Сначала завершите заполнение мероприятия или прервите его (/cancel), "
        "затем верните мероприятие на доработку."
    )
    ACCEPTED = "Мероприятие №{id} принято."
    RETURNED = "Мероприятие №{id} возвращено автору на доработку с комментарием."
    ALREADY = "Мероприятие №{id} уже в этом состоянии: {state}."
    NO_AUTHOR = "\nАвтор мероприятия удалён или отключён: сообщите организации о комментарии сами."
    TO_AUTHOR_RETURNED = (
        "<b>Мероприятие №{id} возвращено на доработку</b> (проверяющий: {reviewer}).\n"
        "Нажмите «Исправить», внесите изменения по комментарию и сохраните их: мероприятие "
        "снова поступит на проверку.\n\n{card}"
    )
    TO_AUTHOR_ACCEPTED = "Мероприятие №{id} «{name}» принято проверяющим ({reviewer})."
    TO_AUTHOR_CHANGED = (
        "<b>Изменения проверяющего ({reviewer}) в мероприятии №{id} «{name}»:</b>\n{changes}"
    )
    CHANGE = "• {field}: «{before}» → «{after}»"
    FIXED_TO_REVIEWER = (
        "Мероприятие №{id} «{name}» ({organisation}) исправлено автором и снова ждёт проверки."
    )
    OPEN = "Открыть"
    CLOSED = (
        "Квартал закрыт: мероприятие доступно только для чтения. "
        "Чтобы изменить его, координатор должен открыть квартал снова (/reopen)."
    )
    HISTORY_HEAD = "<b>История мероприятия №{id}</b>"
    HISTORY_EMPTY = "Мероприятие №{id} не изменялось после отправки."
    HISTORY_LINE = "{at} · {who}\n{field}: «{before}» → «{after}»"
    HISTORY_PAGE = "Страница {page} из {pages}."
    FIELDS: ClassVar[dict[str, str]] = {
        "count": "Количество участников",
        "review": "Проверка",
        "status": "Состояние",
    }
    EMPTY_VALUE = "—"
    # /parent, /reviewer, /unreviewer, /review
    PARENT_USAGE = (
        "Укажите организацию и вышестоящий орган через «|»:\n"
        "/parent Смоленский музей | Министерство культуры Смоленской области\n"
        "/parent Смоленский музей | - — убрать вышестоящий орган."
    )
    PARENT_SELF = "Организация не может быть подчинена самой себе."
    PARENT_IS_CHILD = (
        "Организация «{parent}» сама подчинена органу «{grand}»: вышестоящим может быть только "
        "исполнительный орган (структура двухуровневая)."
    )
    PARENT_HAS_CHILDREN = (
        "У организации «{name}» есть подведомственные организации: подчинить её другой "
        "нельзя (структура двухуровневая)."
    )
    PARENT_SET = "Организация «{name}» подчинена органу «{parent}»."
    PARENT_REMOVED = "У организации «{name}» больше нет вышестоящего органа."
    REVIEWER_USAGE = (
        "Укажите Telegram id сотрудника и исполнительный орган:\n"
        "/reviewer 123456789 Министерство культуры Смоленской области\n"
        "/unreviewer 123456789 Министерство культуры Смоленской области — снять назначение."
    )
    REVIEWERS_HEAD = "<b>Проверяющие</b> (координаторы проверяют все мероприятия):"
    REVIEWERS_EMPTY = "Проверяющие пока не назначены: все мероприятия проверяют координаторы."
    REVIEWER_LINE = "• {organisation}: {name} (<code>{telegram_id}</code>)"
    NOT_A_BODY = (
        "Организация «{name}» подчинена органу «{parent}»: проверяющего назначают исполнительному "
        "органу, он проверяет и подведомственные организации."
    )
    PERSON_NOT_FOUND = "Сотрудник с Telegram id {id} не найден или отключён."
    REVIEWER_ADDED = (
        "{name} проверяет мероприятия органа «{organisation}» и подведомственных ему "
        "организаций. /review — мероприятия, ожидающие проверки."
    )
    REVIEWER_ALREADY = "{name} уже проверяет мероприятия органа «{organisation}»."
    REVIEWER_REMOVED = "{name} больше не проверяет мероприятия органа «{organisation}»."
    REVIEWER_NOT = "{name}: назначения проверяющим органа «{organisation}» нет."
    TO_NEW_REVIEWER = (
        "Вам поручена проверка мероприятий органа «{organisation}» и подведомственных ему "
        "организаций. /review — мероприятия, ожидающие проверки."
    )
    NOT_REVIEWER = "Вы не назначены проверяющим. Проверяющих назначает координатор."
    QUEUE_HEAD = "<b>Ожидают проверки</b> ({period}): {count}, сначала самые давние."
    QUEUE_EMPTY = "Мероприятий, ожидающих проверки ({period}), нет."
    QUEUE_LINE = "№{id} · «{name}» — {organisation}, ждёт {waited}"
    QUEUE_LESS_THAN_DAY = "менее суток"
    OPEN_PERIODS = "открытые кварталы"
    BAD_PERIOD = "Квартал указан неверно: «{value}». Пример: /review {label}"
    NO_PERIOD = "Сведений за {period} нет: мероприятия за этот квартал не подавались."
    # the report's caption
    CAPTION_REVIEW = "Принято: {accepted}, на проверке: {pending}, возвращено: {returned}."
    CAPTION_ACCEPTED_ONLY = "Только принятые мероприятия."
    CAPTION_SINCE = "С прошлого файла: {parts}."
    CAPTION_SAME = "С прошлого файла изменений нет."
    CAPTION_PART = "{what} {numbers}"
    CAPTION_NEW = "новые"
    CAPTION_CHANGED = "изменённые"
    CAPTION_WITHDRAWN = "исключённые"
    CAPTION_MORE = " и ещё {more}"
    ACCEPTED_ONLY = "Только принятые"
    NO_ACCEPTED = "Принятых мероприятий за {period} пока нет."


class Upload:
    """A past report sent to the bot as a .docx by a coordinator."""

    READ_HEAD = "<b>Прочитан отчёт за {period}</b> (файл «{file}»)."
    READ_TOTALS = "Мероприятий: {events}; примечаний: {notes}."
    PER_SPHERE_HEAD = "<b>По сферам:</b>"
    PER_SPHERE = "• {sphere} — {count}"
    PROBLEMS_HEAD = "<b>Не прочитаны строки ({count}):</b>"
    PROBLEM = "• строка {row}{number}{name}: {reason}"
    UNSURE_HEAD = "<b>Сферы распознаны неточно, проверьте:</b>"
    UNSURE_MATCHED = "• «{written}» — принята как «{sphere}»"
    UNSURE_KEPT = "• «{written}» — нет среди настроенных сфер, будет сохранена как написана"
    CONFIRM = (
        "Мероприятия будут загружены от организации «{organisation}», приём сведений "
        "за {period} будет закрыт. Загрузить?"
    )
    LOAD = "Загрузить"
    CANCEL = "Отмена"
    NOTHING_TO_LOAD = "Ни одного мероприятия прочитать не удалось; загружать нечего."
    PERIOD_TAKEN = (
        "За {period} в базе уже есть мероприятия ({count}); отчёт из файла не загружен. "
        "Пропущено мероприятий из файла: {events}."
    )
    LOADED = (
        "Загружено мероприятий: {events}; примечаний: {notes}. Приём сведений за {period} "
        "закрыт. Сотрудники могут копировать эти мероприятия из /my."
    )
    REPEATED = "Одинаковых строк пропущено: {count}."
    CANCELLED = "Загрузка отменена, ничего не сохранено."
    STALE = "Этот файл уже загружен или загрузка отменена. Пришлите файл ещё раз."
    ANSWERED = "На этот вопрос уже дан ответ: ответьте на последний вопрос."
    SPHERE_QUESTION = (
        "Вопрос {number} из {total}. Сфера «{written}» ({rows}) распознана неточно. "
        "Какая это из настроенных сфер?"
    )
    SPHERE_CANDIDATE = "{number}. {sphere}"
    SKIP_ROWS = "Пропустить эти строки"
    SPHERE_TAKEN = "«{written}»: строки будут загружены в сферу «{sphere}»."
    ROWS_SKIPPED = "«{written}»: {rows} не будут загружены."
    ORGANISATION_QUESTION = (
        "От какой организации загрузить мероприятия? (страница {page} из {pages})"
    )
    ORGANISATION_GONE = "Этой организации больше нет. Выберите другую."
    DEFAULT_MARK = " (по умолчанию)"
    PREVIOUS = "« Назад"
    NEXT = "Далее »"
    NOTHING_LEFT = "После пропуска строк загружать нечего; загрузка отменена."
    NOT_DOCX = (
        "Пришлите, пожалуйста, отчёт в формате .docx (документ Word). Файл .doc, .rtf или "
        ".odt сохраните в Word как .docx."
    )
    TOO_BIG = (
        "Файл слишком большой: бот может получить из Telegram файлы не больше 20 МБ "
        "(этот — {size} МБ). Загрузите его командой на сервере: python -m bot import ФАЙЛ.docx"
    )
    TOO_BIG_UNSIZED = (
        "Файл слишком большой: бот может получить из Telegram файлы не больше 20 МБ. "
        "Загрузите его командой на сервере: python -m bot import ФАЙЛ.docx"
    )
    NO_NAME = "без имени"
    DOWNLOAD_FAILED = "Не удалось получить файл из Telegram. Пришлите его, пожалуйста, ещё раз."
    BAD_FILE = "Файл «{file}» не удалось прочитать как отчёт: {error}."
    NO_PERIOD = (
        "В заголовке отчёта не указан квартал (например, «в IV квартале 2023 года»). "
        "Добавьте его в заголовок или загрузите файл командой на сервере с параметром "
        "--period."
    )
    STAFF_REFUSED = (
        "Отчёты в формате .docx загружает координатор. Чтобы сообщить о мероприятии, "
        "отправьте /new."
    )
