"""One build, in its parts: ``build`` (the entry point: locks, the output folder, the
steps in order), ``session`` (the kernel pool and the export thread), ``jobs`` (what
each notebook needs), ``workers`` (executing), ``completion`` (render, write, record), ``tidy`` (stale
files removed, links checked after the notebooks),
``order`` (which notebook runs first), ``plan`` (what the next build would do) and
``cluster`` (notebooks on Dask).

(Not called ``build``: that is the public function ``nbbuild.build``, which a
sub-package of the same name would hide.)
"""
