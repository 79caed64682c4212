"""Telegram handlers: one router per feature (assembled by `handlers.routers`), their
keyboards, views and texts.

This package imports nothing itself, so that the command line (bot/cli.py) can use the
views and texts without loading aiogram and every router.
"""
