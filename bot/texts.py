"""Russian texts of the command line and the process itself, kept in one place."""

NO_TOKEN = (
    "Не задан BOT_TOKEN. Получите токен у @BotFather в Telegram (команда /newbot) "
    "и запишите его в файл .env строкой BOT_TOKEN=123456:ABC... (образец: .env.example)."
)
BAD_SETTING = "Ошибка настройки {error}"
IMPORT_DONE = (
    "Загружено мероприятий: {added}; уже были загружены ранее: {skipped}; "
    "примечаний добавлено: {notes} (период {period})."
)
IMPORT_NO_FILE = "Файл не найден: {path}"
IMPORT_NOT_JSON = "Файл {path} не является JSON (ошибка в строке {line}, позиция {column})."
IMPORT_BAD_FILE = "Файл {path} не подходит для загрузки: {error}"
REPORT_BAD_PERIOD = "Период указан неверно: «{value}». Пример: 2023-Q4 (квартал) или 2023 (год)."
REPORT_YEAR = "{year} год"
REPORT_NO_YEAR = "За {year} год в базе нет ни одного отчётного периода: мероприятия не подавались."
REPORT_NO_PERIOD = "Отчётного периода {period} в базе нет: мероприятия за него не подавались."
REPORT_EMPTY = "В периоде {period} нет поданных мероприятий; отчёт не сформирован."
REPORT_DONE = "Отчёт за {period} сохранён: {path} (мероприятий: {count})."
SETUP_LINK = (
    "Координаторов пока нет. Откройте в Telegram ссылку {link} — открывший её первым "
    "станет координатором (ссылка одноразовая, действует до {until}). "
    "Либо укажите свой Telegram id в COORDINATOR_IDS."
)
STARTED = "Бот запущен (long polling). Остановить: Ctrl+C."
STARTED_WEBHOOK = "Бот запущен (webhook). Остановить: Ctrl+C."
TELEGRAM_NOT_ANSWERING = (
    "Telegram не отвечает при запуске ({reason}); повторная попытка через {wait} с. "
    "Проверьте доступ сервера к api.telegram.org (или TELEGRAM_API_URL)."
)
STOPPED_AT_START = "Запуск прерван по сигналу остановки: Telegram так и не ответил."

# Start-up failures: one line each, saying what to fix.
TOKEN_REJECTED = (
    "Telegram отклонил BOT_TOKEN (401 Unauthorized). Проверьте токен у @BotFather "
    "(команда /token) и запишите его в файл .env строкой BOT_TOKEN=..."
)
DATABASE_UNREACHABLE = (
    "Не удалось подключиться к базе данных {where}: {reason}. "
    "Проверьте DATABASE_URL и что сервер базы данных запущен."
)
DATABASE_FILE_UNUSABLE = (
    "Не удалось открыть файл базы данных {where}: {reason}. "
    "Проверьте путь в DATABASE_URL и права на папку."
)
REDIS_UNREACHABLE = (
    "Не удалось подключиться к Redis {where}: {reason}. Проверьте REDIS_URL и что Redis запущен."
)
REASON_REFUSED = "сервер не принимает соединения"
REASON_UNKNOWN_HOST = "адрес сервера не найден"
REASON_TIMEOUT = "сервер не ответил вовремя"
REASON_NO_DATABASE = "базы данных «{name}» на сервере нет"
REASON_NO_ROLE = "пользователя «{name}» на сервере нет"
REASON_BAD_PASSWORD = "неверный пароль"
REASON_REFUSED_BY_SERVER = "сервер отказал в подключении"
REASON_NO_ACCESS = "нет прав доступа"
REASON_IS_FOLDER = "это папка, а не файл"
REASON_NOT_A_FOLDER = "в пути вместо папки стоит файл"
REASON_OTHER = "ошибка ввода-вывода"
IMPORT_IS_FOLDER = "Указана папка, а не файл: {path}"
IMPORT_UNREADABLE = "Файл {path} не удалось прочитать: {reason}."
IMPORT_NOT_UTF8 = "Файл {path} не в кодировке UTF-8."
IMPORT_NOT_DOCX = (
    "Файл {path} не подходит: нужен документ Word в формате .docx "
    "(файл .doc, .rtf или .odt сохраните в Word как .docx) или файл JSON."
)
IMPORT_NOT_WORD = "файл не является документом Word (.docx)"
IMPORT_PERIOD_ONLY_DOCX = "Параметр --period применяется только к файлам .docx."
IMPORT_DOCX_DONE = (
    "Отчёт за {period} загружен из {path}: {events}, {notes}. "
    "Приём сведений за {quarter} закрыт: сотрудники не могут вносить изменения."
)
IMPORT_DOCX_REPEATED = "Одинаковых строк пропущено: {count}."
IMPORT_DOCX_SKIPPED = (
    "Отчёт из {path} не загружен: сведения за {quarter} уже содержат {existing}. "
    "Из файла не загружено: {read}, {notes}."
)
# The nouns counted in the import's lines, for `plural` (1 мероприятие, 2 мероприятия…).
EVENTS = ("мероприятие", "мероприятия", "мероприятий")
NOTES = ("примечание", "примечания", "примечаний")
IMPORT_DOCX_PROBLEMS = "Не загружены строки ({count}):"
IMPORT_DOCX_PROBLEM = "  строка {row}{number}{name}: {reason}"
IMPORT_DOCX_UNSURE = "Проверьте сферы, распознанные неточно:"
IMPORT_DOCX_UNSURE_MATCHED = "  «{written}» — принята как «{sphere}»"
IMPORT_DOCX_UNSURE_KEPT = "  «{written}» — нет среди настроенных сфер, сохранена как написана"
REPORT_CANNOT_WRITE = "Не удалось записать отчёт в {path}: {reason}."

# `python -m bot --help`, in Russian like everything else the person running it reads.
CLI_DESCRIPTION = (
    "Telegram-бот для сбора сведений о международных мероприятиях и составления отчёта за квартал."
)
CLI_USAGE = "Использование: "
CLI_COMMANDS = "команды"
CLI_ARGUMENTS = "аргументы"
CLI_OPTIONS = "параметры"
CLI_HELP = "показать эту справку и выйти"
# The placeholders of the arguments in the usage line and the help.
CLI_FILE = "ФАЙЛ"
CLI_PERIOD = "ПЕРИОД"
CLI_ORGANISATION = "ОРГАНИЗАЦИЯ"
CLI_ERROR = "Ошибка в командной строке: {message}. Справка: python -m bot --help"
CLI_RUN = "запустить бота: long polling или веб-сервер для webhook, если задан WEBHOOK_URL"
CLI_SCHEDULER = "только планировщик напоминаний (один на развёртывание), без обработки сообщений"
CLI_IMPORT = (
    "загрузить мероприятия из отчёта .docx или файла JSON (повторная загрузка ничего не дублирует)"
)
CLI_IMPORT_FILE = (
    "отчёт .docx в официальном формате или файл JSON в формате образца fixtures/report_2023_q4.json"
)
CLI_IMPORT_PERIOD = "период отчёта .docx, если он не указан в заголовке, например 2023-Q4"
CLI_IMPORT_ORGANISATION = "организация для мероприятий, у которых она не указана"
CLI_REPORT = "сохранить отчёт за период в файл .docx"
CLI_REPORT_PERIOD = "квартал, например 2023-Q4, или год, например 2023"
CLI_REPORT_OUT = "файл отчёта (по умолчанию report_2023_Q4.docx, за год report_2023.docx)"
CLI_MIGRATE = "обновить схему базы данных и выйти"
CLI_DEMO = "попробовать диалог в терминале, без Telegram"
CLI_REQUIRED = "не указан аргумент {names}"
CLI_INVALID_CHOICE = "неизвестная команда «{value}»"
CLI_UNRECOGNIZED = "лишние аргументы: {values}"
CLI_NEEDS_VALUE = "параметру {name} нужно значение"

# Backups (bot/backup.py).
BACKUP_DONE = (
    "Резервная копия базы данных сохранена: {path} ({size} КБ), проверка целостности пройдена."
)
BACKUP_POSTGRES = (
    "База данных бота — PostgreSQL: резервную копию делает pg_dump, например "
    'pg_dump --format=custom --file={path} "{url}" (восстановление: pg_restore --clean '
    '--if-exists --dbname="{url}" {path}; подробнее — README.md, раздел «Backups»).'
)
BACKUP_NO_DATABASE = "Файла базы данных {path} нет: копировать нечего."
BACKUP_NO_FILE = "Файл не найден: {path}"
BACKUP_EXISTS = "Файл {path} уже существует; укажите новое имя файла для копии."
BACKUP_CANNOT_WRITE = "Не удалось записать копию в {path}: {reason}."
RESTORE_DONE = "База данных {database} восстановлена из копии {path}."
RESTORE_PREVIOUS = "Прежняя база данных сохранена в {path}."
RESTORE_IN_USE = (
    "База данных {path} используется запущенным ботом; восстановление не выполнено. "
    "Остановите бота (например, systemctl stop bot) и повторите команду."
)
RESTORE_IN_PROGRESS = (
    "Идёт восстановление базы данных {path} из резервной копии; запустите бота после его "
    "завершения."
)
RESTORE_NOT_A_DATABASE = "Файл {path} не является базой данных бота; восстановление не выполнено."
RESTORE_DAMAGED = (
    "Файл {path} повреждён (проверка целостности не пройдена); восстановление не выполнено."
)
RESTORE_NEWER = (
    "Файл {path} создан более новой версией бота (схема {revision}); обновите бота и "
    "повторите восстановление."
)
RESTORE_POSTGRES = (
    "База данных бота — PostgreSQL: восстановление делает pg_restore, например "
    'pg_restore --clean --if-exists --dbname="{url}" {path} (при остановленном боте).'
)
CLI_BACKUP = "сохранить согласованную копию базы данных SQLite, в том числе во время работы бота"
CLI_BACKUP_FILE = "файл копии (не должен существовать)"
CLI_RESTORE = "восстановить базу данных SQLite из копии (только при остановленном боте)"
CLI_RESTORE_FILE = "файл копии, сделанной командой backup"
METRICS_ON_WEBHOOK = (
    "METRICS_PORT={port} в режиме webhook не используется: метрики отдаются "
    "на сервере webhook, http://{host}:{webhook_port}/metrics."
)
METRICS_PORT_UNUSABLE = (
    "Не удалось открыть порт метрик {host}:{port} ({reason}). "
    "Укажите свободный порт в METRICS_PORT или уберите эту настройку."
)
# A message that came while Telegram would not take what the bot owed the chat
# (bot/owed.py): sent after the owed message, as a reply to the person's message.
OWED_NOT_HANDLED = (
    "Это сообщение получено, когда бот не мог отвечать, и не обработано. "
    "Пожалуйста, отправьте его ещё раз."
)
# A second webhook worker without Redis on one database (bot/sole_worker.py).
SECOND_WEBHOOK_WORKER = (
    "На этой базе данных уже работает обработчик webhook без Redis. Несколько обработчиков "
    "работают только с общим Redis: задайте REDIS_URL всем обработчикам или оставьте один."
)

# Bad settings (bot/settings.py): the part after «НАЗВАНИЕ:» in «Ошибка настройки …».
SETTING_JSON_LIST = "не удалось прочитать список JSON (строка {line}, позиция {column})"
SETTING_JSON_FILE = "не удалось прочитать список: ошибка JSON в строке {line}, позиция {column}"
SETTING_DATABASE_URL = (
    "адрес не распознан; пример: sqlite+aiosqlite:///data/bot.db "
    "или postgresql+asyncpg://пользователь@хост/база"
)
SETTING_SQLITE_DRIVER = "для SQLite нужен драйвер aiosqlite: sqlite+aiosqlite:///{database}"
SETTING_POSTGRES_DRIVER = (
    "для PostgreSQL нужен драйвер asyncpg: postgresql+asyncpg://пользователь@хост/база"
)
SETTING_DATABASE_UNSUPPORTED = (
    "база данных «{backend}» не поддерживается; поддерживаются SQLite "
    "(sqlite+aiosqlite:///data/bot.db) и PostgreSQL (postgresql+asyncpg://…)"
)
SETTING_TIMEZONE = "неизвестный часовой пояс «{value}» (пример: Europe/Moscow)"
SETTING_NO_SPHERES = "нужна хотя бы одна сфера"
SETTING_SPHERES_REPEATED = "названия сфер должны быть разными"
SETTING_REMINDER_DAYS = "число дней до срока должно быть от 1 до 60"
SETTING_REDIS_URL = "нужен адрес вида redis://хост:6379/0 (или rediss://, unix://)"
SETTING_WEBHOOK_URL = "нужен публичный адрес https://, по которому Telegram передаёт обновления"
SETTING_WEBHOOK_SECRET_MISSING = "обязателен при WEBHOOK_URL: от 1 до 256 символов A-Z a-z 0-9 _ -"
SETTING_WEBHOOK_SECRET = "допустимы от 1 до 256 символов A-Z a-z 0-9 _ - (правило Telegram)"
SETTING_WEBHOOK_PATH = "должен начинаться с / и не совпадать с /healthz"
SETTING_REQUEST_TIMEOUT = "допустимо от 1 до 600 секунд"
SETTING_TOKEN = "не похож на токен от @BotFather (вида 123456:ABC...)"
SETTING_INVALID = "недопустимое значение"
# pydantic's own error types, said in Russian (the validators above already speak Russian).
SETTING_ERRORS = {
    "int_parsing": "нужно целое число",
    "int_type": "нужно целое число",
    "int_from_float": "нужно целое число",
    "float_parsing": "нужно число",
    "float_type": "нужно число",
    "bool_parsing": "нужно true или false",
    "bool_type": "нужно true или false",
    "time_parsing": "нужно время в виде ЧЧ:ММ",
    "time_type": "нужно время в виде ЧЧ:ММ",
    "greater_than_equal": "должно быть не меньше {ge}",
    "greater_than": "должно быть больше {gt}",
    "less_than_equal": "должно быть не больше {le}",
    "less_than": "должно быть меньше {lt}",
    "string_too_short": "слишком короткое значение (нужно не меньше {min_length} символов)",
    "string_too_long": "слишком длинное значение (допустимо не больше {max_length} символов)",
    "string_type": "нужна строка",
    "list_type": "нужен список",
    "json_invalid": "не удалось прочитать JSON",
    "missing": "не задано",
}

# `make demo` (bot/demo.py): the terminal's own lines and the demo's person and bot.
DEMO_HELLO = (
    "Демо: бот работает в терминале, без Telegram, на временной базе.\n"
    "Пишите как в чате (/new — новое мероприятие, /my, /report, /help). "
    "Чтобы нажать кнопку, введите её номер в квадратных скобках, например [1] "
    "(или #1); число без скобок — это ответ на вопрос. Выход: /exit или Ctrl+D.\n"
    "Журнал работы бота: {log}\n"
)
DEMO_NO_SUCH_BUTTON = "Кнопки с таким номером сейчас нет."
DEMO_FILE_SAVED = "[файл сохранён: {path}]"
DEMO_FIRST_NAME = "Демо"
DEMO_FULL_NAME = "Демо Пользователь"
DEMO_BOT_NAME = "Отчёты"
DEMO_ORGANISATION = "Демонстрационное учреждение"
