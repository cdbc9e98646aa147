"""A kernel template: import ipykernel once, then fork a fresh kernel per request.

Starting an ipykernel costs ~0.33 s of CPU, 85% of it importing ipykernel, IPython,
jupyter_client and debugpy. This process pays that once. For each request it forks
a child that takes the notebook's working directory, environment and argv, opens
its own ZeroMQ sockets and becomes a complete kernel, exactly as
``python -m ipykernel_launcher -f CONNECTION_FILE`` would.

It runs in the kernel's own interpreter (the kernelspec's ``python``, with its
flags), by path, and imports nothing from nbbuild. Before forking it runs no
notebook code, creates no ZeroMQ context and starts no thread.

``--preload a,b`` names modules to import as well, after ipykernel and with the
environment a kernel gives them (``MPLBACKEND`` set as ipykernel sets it), so
that a forked kernel finds them already imported. A name marked ``?a`` is skipped
when it is not installed (``preload = "auto"`` guesses; a guess may miss). nbbuild
starts the template in an empty folder and decides which notebooks may use a
preloading template.

Protocol: one JSON object per line. On stdin the requests,
``{"argv": [launcher arguments], "cwd": "...", "env": {...}, "log": "...", "setup": "code"}``
(``setup`` optional: code the child runs just before it becomes a kernel); on stdout the
replies, ``{"ready": PID, "preloaded": [names]}`` once imports are done, then ``{"pid": PID}`` or
``{"error": "..."}`` per request. Before its first fork, a template started ahead
of the course's reading takes ``{"preload": [names]}`` instead of ``--preload``
and answers ``{"preloaded": [names]}`` (or an error, and exits). At end of input (nbbuild exited or died) the
template stops every process it forked, and what they started, and exits.

Containment (Linux). Each kernel is forked by a small keeper process of its own,
which is a child subreaper (``PR_SET_CHILD_SUBREAPER``): whatever the notebook
starts, even a daemon that calls ``setsid`` and forks twice, stays below the
keeper instead of escaping to init. When the kernel ends (nbbuild stops it, or it
dies), the keeper kills everything left below it and exits. A kernel dies with its
keeper (``PR_SET_PDEATHSIG``), so a notebook that kills its parent costs only its
own kernel; the template, a subreaper too, gathers what such a notebook left and
stops it at the end. nbbuild (through the template's input) is the keepers' last
anchor: a keeper whose template is gone keeps its kernel while nbbuild lives.
Elsewhere the kernel is forked directly, as before, and only its process group is
stopped with it.
"""

import ctypes
import gc
import importlib
import importlib.util
import json
import os
import signal
import sys
import threading
import time

_IMPORTED_BY_EVERY_KERNEL = (
    "IPython.core.completerlib",
    "IPython.core.debugger",
    "IPython.core.logger",
    "IPython.core.oinspect",
    "IPython.extensions.storemagic",
    "IPython.utils.wildcard",
    "faulthandler",
    "pdb",
    "runpy",
    "sqlite3",
    "tornado.platform.asyncio",
)


def main(preload: list) -> None:
    # What `python -m ipykernel_launcher` imports before and while it starts.
    import ipykernel.debugger  # noqa: F401
    import ipykernel.ipkernel  # noqa: F401
    import ipykernel.kernelapp  # noqa: F401
    import ipykernel.zmqshell  # noqa: F401

    # ...and what every kernel imports while it initializes and runs its first
    # cell (measured: ~20 ms of each forked kernel's ~65 ms start). A fresh kernel
    # has them all in sys.modules too, so a fork stays indistinguishable.
    for name in _IMPORTED_BY_EVERY_KERNEL:
        try:
            importlib.import_module(name)
        except ImportError:  # another IPython version: that kernel imports it itself
            pass

    preloaded, error = _preload(preload)
    if error:
        _send(sys.stdout, {"error": error})
        sys.exit(1)

    # `python -m ipykernel_launcher` makes the launcher's path sys.argv[0].
    launcher = importlib.util.find_spec("ipykernel_launcher").origin

    # Forked kernels are reaped here automatically; the child restores SIGCHLD.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    contained = _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    requests = os.fdopen(os.dup(0), "r")
    _warm_caches()

    # Every object above is shared with the children copy-on-write. A child's
    # garbage collector would visit (write to) each of them and copy most of the
    # template's memory; frozen, they are left alone (CPython's gc.freeze, made
    # for forking servers). The garbage of the imports is collected first.
    gc.collect()
    gc.freeze()
    _send(reply, {"ready": os.getpid(), "preloaded": preloaded})
    forked = False
    for line in requests:
        try:
            request = json.loads(line)
            if "preload" in request:
                # Started before nbbuild read the course (head_start.py): told now.
                if forked:
                    raise RuntimeError("preload after a fork: the kernels would differ")
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # as before the first fork
                try:
                    names, error = _preload(request["preload"])
                finally:
                    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
                if error:  # half imported: no kernel may come from here
                    _send(reply, {"error": error})
                    break
                gc.collect()
                gc.freeze()
                _send(reply, {"preloaded": names})
                continue
            forked = True
            if threading.active_count() != 1:
                raise RuntimeError("the template has started a thread; forking is unsafe")
            argv = [launcher, *request["argv"]]
            if contained:
                pid = _fork_kept(request, argv, reply, requests)
            else:
                pid = os.fork()
                if pid == 0:
                    _become_kernel(request, argv, reply, requests)
            _send(reply, {"pid": pid})
        except Exception as exc:  # reported to nbbuild, which falls back to a normal start
            _send(reply, {"error": f"{type(exc).__name__}: {exc}"})
    _stop_descendants()


def _preload(preload: list) -> tuple[list, str]:
    """Import the modules named; the names imported, and what went wrong ("" if
    nothing did: then the template must not fork)."""
    preloaded: list = []
    if preload:
        # ipykernel sets this at start-up, before any notebook code can import
        # matplotlib; matplotlib reads it at import time.
        if not os.environ.get("MPLBACKEND"):
            os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    for entry in preload:
        name = entry.lstrip("?")
        try:
            importlib.import_module(name)
        except BaseException as exc:  # reported to nbbuild, which warns
            missing = isinstance(exc, ModuleNotFoundError) and exc.name \
                and (name + ".").startswith(exc.name + ".")
            if missing and entry.startswith("?"):
                continue  # a guess that is not installed costs nothing
            return preloaded, f"cannot preload {name}: {type(exc).__name__}: {exc}"
        if threading.active_count() != 1:
            return preloaded, f"preloading {name} started a thread; forking from it would be unsafe"
        preloaded.append(name)
    return preloaded, ""


# Linux prctl options.
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _fork_kept(request: dict, argv: list, reply, requests) -> int:
    """Fork a keeper that forks the kernel; the kernel's pid (or raise)."""
    read_end, write_end = os.pipe()
    keeper = os.fork()
    if keeper == 0:
        os.close(read_end)
        _keep(request, argv, reply, requests, write_end)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        answer = f.read().decode()
    if not answer.isdigit():
        raise RuntimeError(f"the kernel's keeper failed: {answer or 'no answer'}")
    return int(answer)


def _keep(request: dict, argv: list, reply, requests, answer: int) -> None:
    """In the keeper: fork the kernel, wait for it to end, then stop everything it
    left below. Never returns."""
    code = 0
    try:
        template = os.getppid()
        nbbuild = int(request["env"].get("JPY_PARENT_PID") or 0)
        _prctl(_PR_SET_CHILD_SUBREAPER, 1)
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        waited = {signal.SIGCHLD, signal.SIGTERM}
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, waited)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        kernel = os.fork()
        if kernel == 0:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
            os.close(answer)
            _become_kernel(request, argv, reply, requests)
        os.write(answer, str(kernel).encode())
        os.close(answer)
        reply.close()
        requests.close()
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)  # nbbuild reads the template's output to its end: the
        os.dup2(null, 1)  # keeper must not hold it open
        while True:
            signal.sigtimedwait(waited, 1.0)
            status = _reap(kernel)
            if status is not None:
                _note_end(request["log"], kernel, status)
                break
            if os.getppid() != template and not _alive(nbbuild):
                break  # the template and nbbuild are gone
    except BaseException as exc:
        try:
            os.write(answer, f"{type(exc).__name__}: {exc}".encode())
        except OSError:
            pass
        code = 1
    try:
        _stop_descendants()
    finally:
        os._exit(code)


def _reap(kernel: int):
    """Reap every child that ended; the kernel's wait status if it was one of them."""
    ended = None
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return ended if ended is not None else 0
        if pid == 0:
            return ended
        if pid == kernel:
            ended = status


def _note_end(log: str, kernel: int, status: int) -> None:
    """Tell nbbuild how the kernel ended, in its log (nbbuild reads the end of it)."""
    if os.WIFSIGNALED(status):
        how = f"was killed by signal {signal.Signals(os.WTERMSIG(status)).name}"
    else:
        how = f"exited with code {os.waitstatus_to_exitcode(status)}"
    try:
        with open(log, "a") as f:
            f.write(f"[nbbuild] kernel process {kernel} {how}\n")
    except OSError:
        pass


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_descendants() -> None:
    """SIGKILL every process below this one, until none is left (a process may fork
    while its siblings are being killed; the rounds end that)."""
    me = os.getpid()
    for _round in range(50):
        found = _descendants(me)
        if not found:
            return
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for _wait in range(20):  # reap what it can (a keeper has SIGCHLD at default)
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                time.sleep(0.005)


def _descendants(root: int) -> list:
    """Pids below ``root``, from /proc (the kernel's interpreter may lack psutil)."""
    children: dict = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if fields and fields[0] != b"Z":
            children.setdefault(int(fields[1]), []).append(int(name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _warm_caches() -> None:
    """Fill the module-level caches a kernel's first cell fills (compiled regular
    expressions, tokenizer tables), without making a shell: the children inherit
    them instead of each building its own."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        TransformerManager().transform_cell("x = 1\nprint(x)\n")
    except Exception:  # another IPython: the kernels warm themselves
        pass


def _send(stream, message: dict) -> None:
    stream.write(json.dumps(message) + "\n")
    stream.flush()


def _become_kernel(request: dict, argv: list, reply, requests) -> None:
    """In the child: take the notebook's process state, then run the kernel."""
    try:
        template = os.getppid()
        os.setsid()
        _die_with(template)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        reply.close()
        requests.close()
        null = os.open(os.devnull, os.O_RDONLY)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.closerange(3, _max_fd())
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 (the old one buffered requests)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        # sys.path is left as ipykernel_launcher leaves it: its first entry (the
        # working directory) removed; IPython adds '' back after the stdlib.
        sys.argv = argv
        import random

        random.seed()  # a fresh interpreter seeds from the OS; so does each kernel
        if request.get("setup"):
            # nbbuild's set-up (its file tracker), run as a silent execution would
            # run it in the ready kernel: in a namespace of its own.
            exec(compile(request["setup"], "<nbbuild-setup>", "exec"), {"__name__": "__nbbuild__"})

        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass
    os._exit(code)


def _die_with(template: int) -> None:
    """Linux: be killed when the template ends (it ends when nbbuild does, at the
    end of its input). Elsewhere ipykernel's own parent poller notices."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != template:  # it ended before prctl took effect
        os._exit(1)


def _max_fd() -> int:
    try:
        return os.sysconf("SC_OPEN_MAX")
    except (ValueError, OSError):
        return 4096


if __name__ == "__main__":
    # Run by path, sys.path[0] is nbbuild's package folder. ipykernel_launcher
    # removes its first entry (the working directory) before importing anything;
    # so does the template, so nothing is imported from there.
    del sys.path[0]
    modules = sys.argv[2].split(",") if sys.argv[1:2] == ["--preload"] else []
    main([m for m in modules if m])
