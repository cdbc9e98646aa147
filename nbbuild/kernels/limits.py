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

from nbbuild.config import DEFAULT_MAX_OUTPUTS

#: Every note of a cut output starts with this (the cache looks for it).
TRUNCATED = "[nbbuild: output truncated: "
NOTE = ("\n" + TRUNCATED + "this cell's output passed {mb:g} MB, "
        "the rest was dropped (max_output_mb in nbbuild.toml)]\n")
COUNT_NOTE = ("\n" + TRUNCATED + "this cell made more than {count} outputs, "
              "the rest were dropped (max_outputs in nbbuild.toml)]\n")

_CAP = r'''
def _nbbuild_cap(limit, note, count, count_note):
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

    # Rich outputs (display(), figures) are counted per execution request: past
    # max_outputs they are not sent at all, and one note says so.
    from ipykernel import zmqshell

    publish = zmqshell.ZMQDisplayPublisher.publish
    shown = {}

    def capped_publish(self, *args, **kwargs):
        try:
            request = self.parent_header.get("msg_id")
        except Exception:
            return publish(self, *args, **kwargs)
        if len(shown) > 1000:
            shown.clear()
        shown[request] = shown.get(request, 0) + 1
        if shown[request] <= count:
            return publish(self, *args, **kwargs)
        if shown[request] == count + 1:
            import sys
            sys.stderr.write(count_note)
        return None

    capped_publish.__doc__ = publish.__doc__
    zmqshell.ZMQDisplayPublisher.publish = capped_publish

_nbbuild_cap(%d, %r, %d, %r)
del _nbbuild_cap
'''


def cap_code(max_bytes: int, max_outputs: int = DEFAULT_MAX_OUTPUTS) -> str:
    """Code that caps each execution's printed text at ``max_bytes`` characters and
    its rich outputs at ``max_outputs``."""
    return _CAP % (max_bytes, NOTE.format(mb=max_bytes / 2**20),
                   max_outputs, COUNT_NOTE.format(count=max_outputs))
