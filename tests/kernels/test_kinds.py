"""What nbbuild assumes of a kernel (kinds.py), the TCP ports it claims (ports.py),
and odd but legal messages."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nbbuild import load_settings
from nbbuild.errors import ConfigError
from nbbuild.kernels.kernel import _parent_id
from nbbuild.kernels.kinds import beats_while_busy, is_ipykernel, runs_ipython_code
from nbbuild.kernels.ports import PortClaims


def test_only_ipykernel_gets_ipython_options_code_and_trust_in_its_heartbeat():
    assert is_ipykernel(["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"])
    assert not is_ipykernel(["python", "-m", "bash_kernel", "-f", "{connection_file}"])
    assert not is_ipykernel(["tslab", "kernel", "--config-path", "{connection_file}"])
    assert not is_ipykernel(["R", "--slave", "-e", "IRkernel::main()", "--args", "x"])
    ipython = {"implementation": "ipython", "language_info": {"name": "python"}}
    xeus = {"implementation": "xeus-python", "language_info": {"name": "python"}}
    bash = {"implementation": "bash_kernel", "language_info": {"name": "bash"}}
    assert runs_ipython_code(ipython) and not runs_ipython_code(xeus)
    assert not runs_ipython_code(bash) and not runs_ipython_code(None)
    assert beats_while_busy(None, ipykernel=True) and beats_while_busy(xeus, ipykernel=False)
    assert not beats_while_busy({"implementation": "IRkernel"}, ipykernel=False)


def test_a_null_parent_header_answers_no_request():
    assert _parent_id({"parent_header": None}) is None
    assert _parent_id({}) is None
    assert _parent_id({"parent_header": {"msg_id": "a"}}) == "a"


def test_claimed_ports_are_not_given_twice_even_to_another_process():
    claims = PortClaims()
    ports = claims.claim("k1", 5)
    assert len(set(ports)) == 5
    more = PortClaims().claim("k2", 5)
    assert not set(ports) & set(more)
    probe = (
        "import fcntl, os, sys\n"
        "fd = os.open(sys.argv[1], os.O_RDWR)\n"
        "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept OSError:\n"
        "    sys.exit(3)\n")
    from nbbuild.kernels.ports import _folder

    held = subprocess.run([sys.executable, "-c", probe, str(_folder() / str(ports[0]))])
    assert held.returncode == 3  # another build cannot claim it
    claims.release("k1")
    free = subprocess.run([sys.executable, "-c", probe, str(_folder() / str(ports[0]))])
    assert free.returncode == 0


def test_kernel_settings_are_checked(tmp_path):
    (tmp_path / "nbbuild.toml").write_text(
        '[kernels]\nts = "tslab"\n[kernel_transport]\nxpython = "tcp"\n')
    settings = load_settings(tmp_path)
    assert dict(settings.kernels) == {"ts": "tslab"}
    assert dict(settings.kernel_transport) == {"xpython": "tcp"}
    (tmp_path / "nbbuild.toml").write_text('[kernel_transport]\nxpython = "udp"\n')
    with pytest.raises(ConfigError, match='kernel_transport.xpython must be "ipc" or "tcp"'):
        load_settings(tmp_path)
