"""A small site serving ``strawberry_activity.prometheus.metrics_view`` under a real
gunicorn (tests/test_prometheus.py), with the test suite's apps and user model."""
