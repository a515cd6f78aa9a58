"""WSGI entry point: ``gunicorn wsgi:app``."""

from volunteer import create_app

app = create_app()
