"""Local set-up, not the domain: embedded PostgreSQL and Redis servers for a machine where none is configured."""
