"""Settings are documented once; the interface is fully translated into Spanish."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
from babel.messages.pofile import read_po

from portal.settings import SETTINGS, load_settings, settings_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_docs_settings_is_current():
    assert (ROOT / "docs" / "settings.md").read_text(encoding="utf-8") == settings_markdown(), (
        "run: veraz settings --markdown > docs/settings.md"
    )
    for s in SETTINGS:
        assert s.help.strip(), f"{s.name} has no help text"


def test_precedence_defaults_file_env_mapping(tmp_path):
    (tmp_path / "veraz.toml").write_text('OCID_PREFIX = "ocds-file01"\nAPI_PAGE_SIZE = 5\n')
    env = {"PORTAL_INSTANCE_PATH": str(tmp_path), "PORTAL_API_PAGE_SIZE": "7"}
    values = load_settings(environ=env)
    assert values["OCID_PREFIX"] == "ocds-file01"
    assert values["API_PAGE_SIZE"] == 7
    assert values["DATABASE_URL"] == f"sqlite:///{tmp_path / 'veraz.sqlite3'}"
    values = load_settings({"API_PAGE_SIZE": 9}, environ=env | {"DATABASE_URL": "postgresql://x/y"})
    assert values["API_PAGE_SIZE"] == 9 and values["DATABASE_URL"] == "postgresql://x/y"


def test_every_interface_message_has_a_spanish_translation(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "-k",
            "_l",
            "-o",
            str(pot),
            str(ROOT / "portal"),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    with pot.open("rb") as f:
        wanted = {m.id for m in read_po(f) if m.id}
    with (ROOT / "portal/translations/es/LC_MESSAGES/messages.po").open("rb") as f:
        spanish = {m.id: m.string for m in read_po(f) if m.id}
    missing = sorted(m for m in wanted if not spanish.get(m))
    assert not missing, f"untranslated (run make translations, then fill es): {missing}"


def test_secret_key_file_is_private(tmp_path):
    from portal.app import create_app

    create_app({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_the_time_zone_is_a_setting(tmp_path):
    from flask_babel import get_timezone

    from portal.app import create_app

    app = create_app(
        {
            "INSTANCE_PATH": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
            "TIMEZONE": "America/Bogota",
        }
    )
    with app.test_request_context():
        assert str(get_timezone()) == "America/Bogota"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_takes_address_workers_and_threads_from_the_settings(tmp_path):
    """`veraz serve` (which `make run` calls) runs gunicorn as the settings table says."""
    port = _free_port()
    env = os.environ | {
        "PORTAL_INSTANCE_PATH": str(tmp_path),
        "PORTAL_WEB_BIND": f"127.0.0.1:{port}",
        "PORTAL_WEB_WORKERS": "3",
        "PORTAL_WEB_THREADS": "5",
    }
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "veraz"), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        answered = False
        while not answered and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/veraz.css", timeout=5) as r:
                    answered = r.status == 200
            except OSError:
                time.sleep(0.2)
        assert answered, (tmp_path / "serve.log").read_text()
        gunicorn = psutil.Process(server.pid)  # `veraz serve` became gunicorn (same process)
        while len(gunicorn.children()) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(gunicorn.children()) == 3
        arguments = gunicorn.cmdline()
        assert arguments[arguments.index("--threads") + 1] == "5"
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
