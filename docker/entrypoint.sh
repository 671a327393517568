#!/bin/sh
# Entrypoint of the production image: bring the schema up to date, then serve.
#
# Any arguments replace the server, for one-off commands without migrating first, e.g.
#   docker compose -f docker/compose.yml --env-file docker/.env run --rm app alembic current
set -eu

if [ "$#" -gt 0 ]; then
    exec "$@"
fi

# Settings (DATABASE_URL, ...) come from the environment; see app/core/config.py.
# Several nodes (docker/compose.province.yml) leave it to their one-shot `migrate`
# service (MIGRATE_ON_START=false), which reaches the primary past the pooler.
if [ "${MIGRATE_ON_START:-true}" = true ]; then
    alembic upgrade head
fi

# The application is built by a factory: there is no module-level `app`.
# uvicorn's access log would print query strings (names, link tokens): the app
# logs each request by its route template instead (app/core/accesslog.py).
# On SIGTERM uvicorn stops accepting, lets requests in flight finish for up to
# SHUTDOWN_DRAIN_SECONDS, cuts the rest, then closes the database pool. Compose's
# stop_grace_period must stay above it, or the drain ends in SIGKILL.
exec uvicorn --factory app.main:create_app \
    --host 0.0.0.0 \
    --port 8000 \
    --no-access-log \
    --workers "${WEB_CONCURRENCY:-2}" \
    --proxy-headers \
    --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}" \
    --timeout-graceful-shutdown "${SHUTDOWN_DRAIN_SECONDS:-20}"
