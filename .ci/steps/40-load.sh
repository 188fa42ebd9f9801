#!/usr/bin/env bash
# The load + fault run, shortened for CI (30 s of load, ~1 min in all): real uvicorn and
# gunicorn on PostgreSQL + Redis, Redis stopped for 10 s, the app's connections killed.
# The full run is `.venv/bin/python -m loadtest` (60 s, see docs/reliability.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
.venv/bin/python -m loadtest --duration 30 --users 300
