"""Routers, one per feature, included in order (catch-all last)."""

from aiogram import Router

from handlers import common


def setup_routers() -> Router:
    """The root router with every feature router included."""
    root = Router(name="root")
    root.include_router(common.router)
    return root
