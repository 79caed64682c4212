"""The root router: every feature router, included in order (catch-all last)."""

from aiogram import Router

from handlers import (
    common,
    desk,
    duplicates,
    fallback,
    join,
    membership,
    my_events,
    nothing,
    periods,
    report,
    review,
    stats,
    upload,
)
from handlers.filters import InPrivateChat

# The dialogue's router comes early: most updates are answers in it, and every router
# passed costs its filters. Its handlers take no commands (only /new, its own), so the
# other features' commands still reach them from inside the dialogue.
FEATURE_ROUTERS = (
    join.router,
    common.router,
    report.router,
    upload.router,
    desk.router,
    stats.router,
    duplicates.router,
    periods.router,
    nothing.router,
    review.router,
    review.desk_router,
    my_events.router,
    membership.router,
    fallback.router,
)


def setup_routers() -> Router:
    """The root router: private chats only, every feature router in order."""
    root = Router(name="root")
    root.message.filter(InPrivateChat())
    root.callback_query.filter(InPrivateChat())
    for router in FEATURE_ROUTERS:
        # The bot builds one Dispatcher, but tests and the demo build several in one
        # process: release each module-level router from the previous root first.
        previous = router.parent_router
        if previous is not None:
            previous.sub_routers.remove(router)
            router._parent_router = None
        root.include_router(router)
    return root
