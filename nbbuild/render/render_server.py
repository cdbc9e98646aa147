"""Imported by multiprocessing's fork server, and only there (render_processes.py):
the first render's cost (templates, Jinja, Pygments: ~1.5 s) is paid once, and
every render process forked from the server starts warm."""

from nbbuild.render.render_worker import warm

warm(None, "local")
