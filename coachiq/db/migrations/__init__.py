"""Alembic migrations of CoachIQ's schema (run through coachiq.db.manager, no alembic.ini needed)."""
