"""What the next build must do with each notebook, and why.

Two keys decide it (see docs/architecture.md):

* the **execution key** covers what can change outputs: the code cells (sources
  normalized, execution tags), the kernelspec and language, allowed errors, and
  the notebook's folder (its working directory). The files an execution read are
  fingerprinted beside it; any change to one of them invalidates it.
* the **export key** covers what can change the rendered files: the whole
  notebook, the formats, nbconvert's and nbbuild's versions, page settings.

Cheap checks come first: a source whose mtime and size (or, when those moved,
whose digest) are unchanged is not even parsed; dependencies are hashed only when
their mtime or size moved. Executions are reused by key (content-addressed), so a
markdown edit or deleted outputs cost a re-render and no execution.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from nbbuild.config import Settings
from nbbuild.course.globs import matches_any
from nbbuild.course.sources import LoadedNotebook
from nbbuild.model import Source
from nbbuild.store.database import Fingerprint, NotebookRecord, Store
from nbbuild.store.failures import failed_key, since
from nbbuild.store.keys import (
    declared_env,
    declared_globs,
    digest,
    execution_parts,
    file_digest,
    output_caps,
    settings_parts,
)

#: The fingerprint (mtime, size, digest) of a file that did not exist.
ABSENT = (-1, -1, "")


class Action(enum.Enum):
    SKIP = "up to date"
    RENDER = "re-render"
    EXECUTE = "re-execute"


@dataclass
class Decision:
    action: Action
    reasons: list[str] = field(default_factory=list)
    #: For RENDER: the cached execution to render from.
    payload: dict[str, Any] | None = None
    #: For SKIP: what the store knows (title, outputs).
    record: NotebookRecord | None = None
    #: For RENDER and EXECUTE: the outputs (keys) to render; None for all. The
    #: others are up to date on disk (a course with editions: an edited speaker
    #: note re-renders only the speaker edition).
    only: set[str] | None = None
    #: The export key's parts of the notebook as read (recorded with it).
    export_parts: dict[str, Any] = field(default_factory=dict)
    #: For SKIP and RENDER of a notebook whose unchanged code failed before: the
    #: failure kept (failures.py); ``payload`` is then the failed execution.
    failure: dict[str, Any] | None = None


class Cache:
    """Decisions for one build, from the store and the files as they are now."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        force: bool = False,
        retry_failed: bool = False,
        files: tuple[PurePosixPath, ...] = (),
    ) -> None:
        self.store = store
        self.settings = settings
        self.force = force
        self.retry_failed = retry_failed
        self.root = settings.course
        self.files = files
        self.env = declared_env(settings)
        self._settings_parts = settings_parts(settings)

    def declared(self, source: Source) -> list[str]:
        """The ``depends`` globs that apply to ``source``."""
        return declared_globs(self.settings, source)

    def declared_files(self, source: Source) -> set[str]:
        """Course files matching the ``depends`` globs of ``source``, as of now."""
        globs = self.declared(source)
        return {str(f) for f in self.files if globs and matches_any(f, globs)}

    def folder_files(self, source: Source) -> set[str]:
        """Course files in the notebook's folder and below it: what a notebook of a
        kernel that cannot report its reads depends on, conservatively (as the
        course tool nbbuild replaces does)."""
        folder = source.rel.parent.as_posix()
        prefix = "" if folder == "." else folder + "/"
        return {str(f) for f in self.files if str(f).startswith(prefix)}

    def quick(self, source: Source) -> Decision | None:
        """SKIP without parsing when nothing that matters moved; else None."""
        record = self.store.notebook(source.key)
        if self.force or record is None or record.status not in self._kept_statuses:
            return None
        if not self._source_unchanged(source, record):
            return None
        parts = dict(record.export_parts)
        parts.pop("notebook", None)
        if parts != self._settings_parts:
            return None
        if record.exec_parts.get("errors") != self.settings.allows_errors(source.rel):
            return None
        if record.exec_parts.get("depends", []) != self.declared(source):
            return None
        if record.exec_parts.get("env", {}) != self.env:
            return None
        if record.status == "failed":
            return self._kept_failure(record, source)
        if not self._outputs_exist(record, source) or self.changed_dependency(record.exec_key):
            return None
        if self._cut_at_other_caps(record):
            return None
        return Decision(Action.SKIP, record=record)

    @property
    def _kept_statuses(self) -> tuple[str, ...]:
        return ("built",) if self.retry_failed else ("built", "failed")

    @property
    def _failed_pages(self) -> bool:
        return self.settings.failed_pages == "banner"

    def _kept_failure(self, record: NotebookRecord, source: Source) -> Decision | None:
        """SKIP, as failed, a failure whose inputs did not change; else None."""
        key = failed_key(record.exec_key)
        if self._failed_pages != bool(record.outputs):  # failed_pages changed since
            return None
        if self._failed_pages and not self._outputs_exist(record, source):
            return None
        failed = self.store.execution(key)
        if failed is None or "failure" not in failed or self.changed_dependency(key):
            return None
        failure = failed["failure"]
        return Decision(Action.SKIP, [f"failed, unchanged since {since(failure)}"],
                        record=record, failure=failure)

    def _cut_at_other_caps(self, record: NotebookRecord | None) -> str:
        """Why a cut execution must run again: its limits were changed since."""
        cut = record.exec_parts.get("truncated_at") if record is not None else None
        if not cut or cut == output_caps(self.settings):
            return ""
        return (f"outputs were cut at {cut[0]:g} MB / {cut[1]} outputs; the limits are now "
                f"{self.settings.max_output_mb:g} MB / {self.settings.max_outputs}")

    def decide(self, loaded: LoadedNotebook) -> tuple[Decision, dict[str, Any], str]:
        """The decision, the execution parts and the execution key of a parsed notebook."""
        parts = execution_parts(
            loaded, self.settings.allows_errors(loaded.source.rel), self.declared(loaded.source), self.env
        )
        key = digest(parts)
        record = self.store.notebook(loaded.source.key)
        reasons = self._execution_reasons(record, parts)
        export = self.export_parts(loaded)
        if self.force:
            return Decision(Action.EXECUTE, ["forced"], export_parts=export), parts, key
        if record is not None and record.status == "failed" and record.exec_key == key:
            if self.retry_failed:
                reasons.append("retried (--retry-failed)")
            else:
                kept = self._failure_to_render(record, export, loaded)
                if kept is not None:
                    kept.export_parts = export
                    return kept, parts, key
                changed = self.changed_dependency(failed_key(key))
                if changed:
                    reasons.append(f"dependency {changed} changed")
        export_reasons, stale = self._export_reasons(record, export, loaded.source)
        payload = self.store.execution(key)
        changed = None if payload is None else self.changed_dependency(key)
        cut = self._cut_at_other_caps(record) if record and record.exec_key == key else ""
        if payload is None or changed or cut:
            why = [f"dependency {changed} changed"] if changed else (
                [cut] if cut else reasons or ["no cached execution"])
            return Decision(Action.EXECUTE, why, only=self._after_execution(stale, loaded),
                            export_parts=export), parts, key
        if record is not None and record.status == "built" and not export_reasons:
            return Decision(Action.SKIP, record=record), parts, key
        return Decision(Action.RENDER, export_reasons or reasons, payload, only=stale,
                        export_parts=export), parts, key

    def _failure_to_render(self, record: NotebookRecord, export: dict[str, Any],
                           loaded: LoadedNotebook) -> Decision | None:
        """For a failure whose inputs did not change: SKIP when its outputs are as
        they should be, else RENDER it from the failed execution; None when it must
        run again (a file it read changed, or the failure is not kept)."""
        key = failed_key(record.exec_key)
        failed = self.store.execution(key)
        if failed is None or "failure" not in failed or self.changed_dependency(key):
            return None
        failure = failed["failure"]
        unchanged = [f"failed, unchanged since {since(failure)}"]
        if not self._failed_pages:
            if not record.outputs:
                return Decision(Action.SKIP, unchanged, record=record, failure=failure)
            return Decision(Action.RENDER, [*unchanged, "failed_pages is omit"], failed,
                            failure=failure)
        reasons, stale = self._export_reasons(record, export, loaded.source, as_built=True)
        if not reasons and record.outputs:
            return Decision(Action.SKIP, unchanged, record=record, failure=failure)
        return Decision(Action.RENDER, [*unchanged, *(reasons or ["outputs missing"])], failed,
                        only=stale if record.outputs else None, failure=failure)

    def export_parts(self, loaded: LoadedNotebook) -> dict[str, Any]:
        """The export key: of the whole notebook, or of each edition's notebook."""
        if not self.settings.variants or loaded.full is None:
            return {"notebook": digest(loaded.nb), **self._settings_parts}
        from nbbuild.course.editions import edition

        lang = loaded.source.lang
        editions = {name: digest(edition(loaded.full, name, lang))
                    for name in self.settings.edition_names}
        return {"notebook": editions, **self._settings_parts}

    def _after_execution(self, stale: set[str] | None, loaded: LoadedNotebook) -> set[str] | None:
        """What to render after executing: every edition that shows outputs, and
        the others only where they are stale (the code-along edition shows none)."""
        if stale is None:
            return None
        from nbbuild.course.editions import needs_execution
        from nbbuild.render.layout import outputs_of, split_key

        return stale | {
            k for k in outputs_of(self.settings, loaded.source)
            if needs_execution(split_key(k)[0] or "completed")
        }

    def fingerprints(self, paths: set[str]) -> list[Fingerprint]:
        """Fingerprints of the files, outputs and store excluded. A file the notebook
        tried to open that does not exist is recorded as absent (``ABSENT``): its
        appearing is a change (the data a failing notebook was missing)."""
        found = []
        for rel in sorted(paths):
            path = self.root / rel
            if self._outside_sources(path):
                continue
            try:
                st = path.stat()
                found.append(Fingerprint(rel, st.st_mtime_ns, st.st_size, file_digest(path)))
            except FileNotFoundError:
                found.append(Fingerprint(rel, *ABSENT))
            except OSError:
                continue
        return found

    def changed_dependency(self, key: str) -> str | None:
        """The first dependency of execution ``key`` whose content changed, if any."""
        for fp in self.store.dependencies(key):
            path = self.root / fp.path
            try:
                st = path.stat()
            except OSError:
                if (fp.mtime_ns, fp.size, fp.digest) == ABSENT:
                    continue  # still absent
                return fp.path
            if (fp.mtime_ns, fp.size, fp.digest) == ABSENT:
                return fp.path
            if (st.st_mtime_ns, st.st_size) == (fp.mtime_ns, fp.size):
                continue
            if st.st_size != fp.size or file_digest(path) != fp.digest:
                return fp.path
        return None

    def _source_unchanged(self, source: Source, record: NotebookRecord) -> bool:
        try:
            st = source.path.stat()
        except OSError:
            return False
        if (st.st_mtime_ns, st.st_size) == (record.src_mtime_ns, record.src_size):
            return True
        return st.st_size == record.src_size and file_digest(source.path) == record.src_digest

    def _outputs_exist(self, record: NotebookRecord, source: Source) -> bool:
        return not self._missing_outputs(record, source)

    def _missing_outputs(self, record: NotebookRecord, source: Source) -> set[str]:
        """Outputs (keys) the record does not list at their place, or that are gone."""
        from nbbuild.render.layout import outputs_of

        return {
            key for key, rel in outputs_of(self.settings, source).items()
            if record.outputs.get(key) != rel.as_posix() or not (self.settings.out / rel).is_file()
        }

    def _outside_sources(self, path: Path) -> bool:
        real = os.path.realpath(path)
        for folder in (self.settings.out, self.settings.cache_dir):
            if real.startswith(os.path.realpath(folder) + os.sep):
                return True
        return False

    @staticmethod
    def _last_build(record: NotebookRecord | None) -> list[str] | None:
        """Reasons from the last build alone; None when there was none."""
        if record is None:
            return None
        return [] if record.status == "built" else [f"{record.status} last time"]

    def _execution_reasons(self, record: NotebookRecord | None, parts: dict) -> list[str]:
        reasons = self._last_build(record)
        if reasons is None:
            return ["never built"]
        old = record.exec_parts
        if old.get("code") != parts["code"]:
            reasons.append("code changed")
        if (old.get("kernel"), old.get("language")) != (parts["kernel"], parts["language"]):
            reasons.append("kernel changed")
        if old.get("errors") != parts["errors"]:
            reasons.append("options changed (allowed errors)")
        if old.get("folder") != parts["folder"]:
            reasons.append("moved to another folder")
        if old.get("depends", []) != parts["depends"]:
            reasons.append("declared dependencies changed")
        old_env, new_env = old.get("env", {}), parts["env"]
        changed = sorted(n for n in set(old_env) | set(new_env) if old_env.get(n) != new_env.get(n))
        if changed:
            reasons.append(f"environment changed: {', '.join(changed)}")
        return reasons

    def _export_reasons(
        self, record: NotebookRecord | None, new: dict[str, Any], source: Source,
        as_built: bool = False,
    ) -> tuple[list[str], set[str] | None]:
        """Why outputs must be rendered, and which (keys; None for all); ``new`` are
        the notebook's export parts now. ``as_built``: a kept failure's outputs are
        judged as a built notebook's are."""
        reasons = [] if as_built and record is not None else self._last_build(record)
        if reasons is None:
            return ["never built"], None
        if reasons:
            return reasons, None
        old = record.export_parts
        everything = False
        stale: set[str] = set()
        from nbbuild.render.layout import outputs_of, split_key

        keys = outputs_of(self.settings, source)
        old_notebook, new_notebook = old.get("notebook"), new["notebook"]
        if isinstance(new_notebook, dict) and isinstance(old_notebook, dict):
            for name, value in new_notebook.items():
                if old_notebook.get(name) != value:
                    reasons.append(f"{name} edition changed")
                    stale |= {k for k in keys if split_key(k)[0] == name}
        elif old_notebook != new_notebook:
            reasons.append("notebook changed (markdown or metadata)")
            everything = True
        added = set(new["formats"]) - set(old.get("formats", []))
        removed = set(old.get("formats", [])) - set(new["formats"])
        if added:
            reasons.append(f"format added: {', '.join(sorted(added))}")
            stale |= {k for k in keys if split_key(k)[1] in added}
        if removed:
            reasons.append(f"format dropped: {', '.join(sorted(removed))}")
        if old.get("nbbuild") != new["nbbuild"]:
            reasons.append("nbbuild upgraded")
            everything = True
        if old.get("nbconvert") != new["nbconvert"]:
            reasons.append("nbconvert upgraded")
            everything = True
        settings_keys = ("reveal_url_prefix", "assets", "out", "editions", "languages", "layout",
                         "kernel_choice")
        if any(old.get(k) != new.get(k) for k in settings_keys):
            reasons.append("settings changed")
            everything = True
        missing = self._missing_outputs(record, source)
        if missing and not everything:
            stale |= missing
            if not reasons:
                reasons.append("outputs missing")
        if everything or not self.settings.variants:
            return reasons, None
        return reasons, stale
