"""WSGI entry point for gunicorn: ``gunicorn portal.wsgi:app``."""

from portal.app import create_app, settle_for_serving

app = create_app()
settle_for_serving()
