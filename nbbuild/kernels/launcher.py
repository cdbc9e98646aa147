"""Start any kernel so that it dies with nbbuild, even when nbbuild is killed.

``python launcher.py NBBUILD_PID LOG -- KERNEL ARGV...`` runs the kernel command as its child
and stays beside it (Linux). It is a child subreaper, so whatever the kernel starts,
even a daemon that leaves its session, stays below it; it dies with nbbuild
(``PR_SET_PDEATHSIG``, SIGTERM), and the kernel dies with it (SIGKILL). When the
kernel ends, or on SIGTERM, it kills everything left below it, notes in LOG how the
kernel ended (as a forked kernel's keeper does), and exits.

The kernel leads a session of its own, as jupyter_client starts kernels; an
interrupt (SIGINT) sent to the launcher is passed on to the kernel's group. It runs in nbbuild's own
interpreter, by path, beside ``kernel_template.py``, whose helpers it uses; it
imports nothing from nbbuild. Elsewhere than Linux nbbuild does not use it.
"""

import os
import signal
import sys

import kernel_template as kt  # the sibling file: this folder is sys.path[0]


def main(argv: list) -> None:
    if len(argv) < 4 or argv[2] != "--" or not argv[0].isdigit():
        sys.stderr.write("usage: launcher.py NBBUILD_PID LOG -- KERNEL ARGV...\n")
        sys.exit(2)
    nbbuild, log, command = int(argv[0]), argv[1], argv[3:]
    kt._prctl(kt._PR_SET_CHILD_SUBREAPER, 1)
    kt._prctl(kt._PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != nbbuild:
        sys.exit(1)  # nbbuild ended before the death signal was set (or even before this started)
    waited = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT}
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, waited)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    me = os.getpid()
    kernel = os.fork()
    if kernel == 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        os.setsid()
        kt._prctl(kt._PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != me:
            os._exit(1)
        try:
            os.execvp(command[0], command)
        except OSError as exc:
            sys.stderr.write(f"[nbbuild] cannot start the kernel {command[0]}: {exc}\n")
            os._exit(127)
    code = 1
    try:
        while True:
            got = signal.sigtimedwait(waited, 1.0)
            if got is not None and got.si_signo == signal.SIGINT:
                try:
                    os.killpg(kernel, signal.SIGINT)  # an interrupt, for the kernel
                except OSError:
                    pass
                continue
            status = kt._reap(kernel)
            if status is not None:
                kt._note_end(log, kernel, status)
                code = _exit_code(status)
                break
            if (got is not None and got.si_signo == signal.SIGTERM) or os.getppid() != nbbuild:
                code = 128 + signal.SIGTERM
                break
    finally:
        kt._stop_descendants()
    os._exit(code)


def _exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    main(sys.argv[1:])
