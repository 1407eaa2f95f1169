"""WSGI entry point: `gunicorn wsgi:app` and `flask --app wsgi ...`."""

import gc

from tracker import create_app

app = create_app()

# The objects made while starting (modules, templates, the catalogue of translations: most of
# the heap) live as long as the process: move them out of the collector's reach, so that the
# full collections that come every few dozen requests do not walk them again (they added
# 80-100 ms to one request in fifteen).
gc.collect()
gc.freeze()
