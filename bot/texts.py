"""Russian texts of the command line and the process itself, kept in one place."""

NO_TOKEN = (
    "Не задан BOT_TOKEN. Получите токен у @BotFather в Telegram (команда /newbot) "
    "и запишите его в файл .env строкой BOT_TOKEN=123456:ABC... (образец: .env.example)."
)
BAD_SETTING = "Ошибка настройки {error}"
IMPORT_DONE = (
    "Загружено мероприятий: {added}; уже были загружены ранее: {skipped}; "
    "заключительных записей добавлено: {notes} (период {period})."
)
IMPORT_NO_FILE = "Файл не найден: {path}"
IMPORT_NOT_JSON = "Файл {path} не является JSON: {error}"
IMPORT_BAD_FILE = "Файл {path} не подходит для загрузки: {error}"
REPORT_BAD_PERIOD = "Период указан неверно: «{value}». Пример: 2023-Q4."
REPORT_NO_PERIOD = "Отчётного периода {period} в базе нет: мероприятия за него не подавались."
REPORT_EMPTY = "В периоде {period} нет поданных мероприятий; отчёт не сформирован."
REPORT_DONE = "Отчёт за {period} сохранён: {path} (мероприятий: {count})."
STARTED = "Бот запущен (long polling). Остановить: Ctrl+C."
