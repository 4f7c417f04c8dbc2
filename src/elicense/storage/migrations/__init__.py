"""Alembic migrations, shipped inside the package (no alembic.ini needed; see ``migrate``)."""
