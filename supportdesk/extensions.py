"""Extension objects, created here and bound to an app only by ``create_app``."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf import CSRFProtect

from supportdesk.db import db

__all__ = ["csrf", "db", "limiter", "login_manager", "migrate"]

migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()
# Per client address. Behind a reverse proxy, wrap the app in werkzeug's ProxyFix (see
# docs/deployment.md) or every user shares the proxy's address.
limiter = Limiter(key_func=get_remote_address)
