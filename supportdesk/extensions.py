"""Extension objects, created here and bound to an app only by ``create_app``."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from supportdesk.db import Base

# Models subclass supportdesk.db.Base directly (typed, and with our type map); the
# extension only needs its metadata for Alembic.
db = SQLAlchemy(
    metadata=Base.metadata,
    # Only matters when the session is bound to a Connection that is already inside a
    # transaction, which the test suite does to roll every test back.
    session_options={"join_transaction_mode": "create_savepoint"},
)
migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()
# Per client address. Behind a reverse proxy, wrap the app in werkzeug's ProxyFix (see
# README, "Deployment") or every user shares the proxy's address.
limiter = Limiter(key_func=get_remote_address)
