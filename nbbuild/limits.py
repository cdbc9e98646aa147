"""A cap on what a cell may print, applied inside the kernel.

ipykernel gathers what a cell prints for 0.2 s and sends it as one message, so a
cell printing in a tight loop sends messages of hundreds of megabytes, which
nbbuild would have to receive whole. The cap stops the text where it is made:
each kernel runs this code once (with nbbuild's file tracker, see
``KernelPool(setup_code=...)``); past ``max_output_mb`` of text for one execution
request, a stream keeps nothing more and says so once. nbbuild's client (execute.py)
caps rich outputs the same way, as they arrive.
"""

from __future__ import annotations

NOTE = ("\n[nbbuild: output truncated: this cell's output passed {mb:g} MB, "
        "the rest was dropped (max_output_mb in nbbuild.toml)]\n")

_CAP = r'''
def _nbbuild_cap(limit, note):
    from ipykernel import iostream

    original = iostream.OutStream.write
    used = {}

    def write(self, string):
        if not isinstance(string, str):
            return original(self, string)
        try:
            request = self.parent_header.get("msg_id")  # the execute request's header
        except Exception:
            return original(self, string)
        before = used.get(request, 0)
        if len(used) > 1000:
            used.clear()
        used[request] = before + len(string)
        if before + len(string) <= limit:
            return original(self, string)
        if before <= limit:
            original(self, string[: limit - before])
            original(self, note)
        return len(string)

    write.__doc__ = original.__doc__
    iostream.OutStream.write = write

_nbbuild_cap(%d, %r)
del _nbbuild_cap
'''


def cap_code(max_bytes: int) -> str:
    """Code that caps each execution's printed text at ``max_bytes`` characters."""
    return _CAP % (max_bytes, NOTE.format(mb=max_bytes / 2**20))
