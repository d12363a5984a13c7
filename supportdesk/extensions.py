"""Extension objects, created here and bound to an app only by ``create_app``."""

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
