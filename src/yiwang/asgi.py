"""The ASGI entry point for ``uvicorn yiwang.asgi:app`` (settings from the environment)."""

from yiwang.app import create_app

app = create_app()
