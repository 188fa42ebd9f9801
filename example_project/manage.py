#!/usr/bin/env python
"""The demo wallet's manage.py: ``python manage.py runserver`` and friends."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
