"""What a build tells: progress on the console (progress), the JSON report
(json_report), the history of builds (history, trend), time budgets and resources.

``SCHEMA``, ``build_report`` and ``write_report`` are the JSON report's public names
(docs/report.md), importable from here as before the package was split.
"""

from nbbuild.report.json_report import SCHEMA, build_report, write_report

__all__ = ["SCHEMA", "build_report", "write_report"]
