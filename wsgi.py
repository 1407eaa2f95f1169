"""WSGI entry point: `gunicorn wsgi:app` and `flask --app wsgi ...` (the scheduler and every
command too, so the collector settings below apply to the reminder pass and exports as well)."""

import gc

from tracker import create_app

app = create_app()

# The objects made while starting (modules, templates, the catalogue of translations: most of
# the heap) live as long as the process: move them out of the collector's reach, so that the
# full collections that come every few dozen requests do not walk them again (they added
# 80-100 ms to one request in fifteen).
gc.collect()
gc.freeze()
# A young collection every 10,000 new objects instead of 700: a list page or the dashboard
# makes tens of thousands per request, and at the default about every fifth request also paid
# a full collection of what the requests before it had cached (templates, compiled SQL),
# 6-8 ms on a 25 ms page; frozen objects no longer count towards the full collection's
# trigger, so it came often.
gc.set_threshold(10_000, 10, 10)
