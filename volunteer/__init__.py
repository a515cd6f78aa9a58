"""平安志愿: volunteer patrol attendance, points and rewards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the application: config, extensions, blueprints, CLI commands."""
    from volunteer import config as config_module
    from volunteer.cli import register_commands
    from volunteer.db import configure_engine
    from volunteer.errors import register_error_handlers
    from volunteer.extensions import babel, csrf, db, limiter, login_manager, migrate
    from volunteer.views import register_blueprints
    from volunteer.views.common import install_request_hooks, select_locale

    config = dict(config or {})
    instance_path = Path(config.pop("INSTANCE_PATH", None) or config_module.instance_path() or ROOT / "instance")
    app = Flask(
        __name__,
        instance_path=str(instance_path),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(config_module.load(instance_path, config))
    if app.config["PROXY_HOPS"] > 0:  # the client's address and scheme come from the proxy's headers
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)

    import volunteer.models  # noqa: F401  (register every table on the metadata)

    db.init_app(app)
    with app.app_context():
        configure_engine(db.engine)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale,
                   default_translation_directories=str(ROOT / "volunteer" / "translations"))
    limiter.init_app(app)

    register_error_handlers(app)
    install_request_hooks(app)
    register_blueprints(app)
    register_commands(app)
    return app
