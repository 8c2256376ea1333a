"""Alembic migrations: the one PostgreSQL schema that the API and the bot share.

Revisions are plain SQL. ``execute_script`` sends a whole script (functions with ``$$`` bodies
included) through asyncpg's simple query protocol, inside the migration's transaction.
"""

from alembic import op
from sqlalchemy.util import await_only


def execute_script(sql: str) -> None:
    """Run a multi-statement SQL script on the migration's connection and transaction."""
    driver = op.get_bind().connection.dbapi_connection.driver_connection
    await_only(driver.execute(sql))
