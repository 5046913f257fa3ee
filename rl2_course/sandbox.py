"""Confinement for code the course runs but does not trust: a learner's notebook (`classroom`).

Why: the grader executes whatever a submission contains. A cell may loop forever and swallow
the interrupt meant to stop it, allocate until the machine swaps, start processes that outlive
the kernel, or overwrite the course's files. Each function here closes one of those doors;
`classroom.grade_notebook` uses all of them (Linux; elsewhere the ones the system offers):

* `set_resource_limits`: address space (RLIMIT_AS), CPU seconds, file size and core dumps of
  the confined process and everything it starts;
* `confine_writes_to`: Landlock (Linux ≥ 5.13), so that the process and its children may write
  only under one directory (and to devices such as /dev/null), whatever the file permissions
  say, and even when the grader runs as root;
* `kill_process_group` and `kill_marked`: the wall-clock limit is enforced from outside by
  killing, not interrupting; every process that inherited the run's marker in its environment
  is found and killed, also those that left the process group (``setsid``).
"""

from __future__ import annotations

import ctypes
import math
import os
import resource
import signal
from pathlib import Path

#: the environment variable whose value marks every process of one confined run
MARKER_VARIABLE = "RL2_COURSE_CONFINED_RUN"

# Landlock's ABI (linux/landlock.h); the system call numbers are those of the generic table,
# shared by x86-64 and arm64
_SYS_LANDLOCK_CREATE_RULESET, _SYS_LANDLOCK_ADD_RULE, _SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
#: the rights to change the file system: write, truncate, remove, create, link or rename;
#: reading and executing stay allowed everywhere (the kernel needs Python and the course)
_WRITE_RIGHTS_BY_ABI = {
    1: (1 << 1) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10)
       | (1 << 11) | (1 << 12),
    2: 1 << 13,      # REFER: link or rename into another directory
    3: 1 << 14,      # TRUNCATE
}


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def set_resource_limits(*, memory_bytes: int | None, cpu_seconds: float | None,
                        file_bytes: int | None) -> None:
    """Limit this process and every process it starts afterwards: ``memory_bytes`` of address
    space (an allocation beyond it fails with MemoryError instead of the machine swapping or
    its out-of-memory killer picking a victim), ``cpu_seconds`` of CPU time per process
    (SIGXCPU, then SIGKILL: a backstop for a process that escapes the wall-clock kill), files
    of at most ``file_bytes``, and no core dumps. None leaves a limit as it is. A limit is
    never raised above the one this process already has."""
    def lower(kind: int, soft: int, hard: int) -> None:
        # both limits: a confined process may raise its soft limit up to the hard one
        _, current_hard = resource.getrlimit(kind)
        if current_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        resource.setrlimit(kind, (soft, hard))

    if memory_bytes is not None:
        lower(resource.RLIMIT_AS, int(memory_bytes), int(memory_bytes))
    if cpu_seconds is not None:       # SIGXCPU at the soft limit, SIGKILL 10 s later
        lower(resource.RLIMIT_CPU, math.ceil(cpu_seconds), math.ceil(cpu_seconds) + 10)
    if file_bytes is not None:
        lower(resource.RLIMIT_FSIZE, int(file_bytes), int(file_bytes))
    lower(resource.RLIMIT_CORE, 0, 0)


def confine_writes_to(directory: str | os.PathLike, also: tuple[str, ...] = ("/dev",)) -> str | None:
    """Allow this process, and everything it starts afterwards, to change files only under
    ``directory`` and ``also`` (devices: /dev/null, /dev/shm, terminals). Returns None when
    the confinement holds, else why it could not be set up (no Landlock in this kernel, not
    Linux): the caller says so rather than pretend."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        abi = libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0),
                           ctypes.c_uint32(_LANDLOCK_CREATE_RULESET_VERSION))
    except (OSError, AttributeError) as err:
        return f"no Landlock on this system ({err})"
    if abi < 1:
        return f"no Landlock in this kernel ({os.strerror(ctypes.get_errno())})"
    rights = 0
    for version, bits in _WRITE_RIGHTS_BY_ABI.items():
        if abi >= version:
            rights |= bits
    attr = _RulesetAttr(rights)
    ruleset = libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr),
                           ctypes.c_size_t(ctypes.sizeof(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        return f"Landlock refused the ruleset ({os.strerror(ctypes.get_errno())})"
    try:
        for path in (os.fspath(directory), *also):
            if not os.path.exists(path):
                continue
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = _PathBeneathAttr(rights, fd)
                if libc.syscall(_SYS_LANDLOCK_ADD_RULE, ctypes.c_int(ruleset),
                                ctypes.c_int(_LANDLOCK_RULE_PATH_BENEATH), ctypes.byref(rule),
                                ctypes.c_uint32(0)) < 0:
                    return f"Landlock refused a rule for {path} ({os.strerror(ctypes.get_errno())})"
            finally:
                os.close(fd)
        # required to restrict oneself without privileges; a confined process cannot gain any
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return f"prctl(PR_SET_NO_NEW_PRIVS) failed ({os.strerror(ctypes.get_errno())})"
        if libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) < 0:
            return f"Landlock could not restrict the process ({os.strerror(ctypes.get_errno())})"
    finally:
        os.close(ruleset)
    return None


def kill_process_group(pgid: int | None) -> None:
    """SIGKILL to every process of group ``pgid`` (gone already: nothing to do)."""
    if pgid is None or pgid <= 1:
        return
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def marked_processes(marker: str) -> list[int]:
    """The processes whose environment holds ``MARKER_VARIABLE=marker`` (Linux: /proc), but
    this one. A process that left the process group (``setsid``) keeps its environment."""
    needle = f"{MARKER_VARIABLE}={marker}".encode() + b"\0"
    found = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:                     # gone meanwhile, or another user's
            continue
        if (b"\0" + environ).find(b"\0" + needle) >= 0:
            found.append(int(entry.name))
    return found


def kill_marked(marker: str) -> int:
    """SIGKILL every process that carries ``marker`` (`marked_processes`); returns how many."""
    killed = 0
    for pid in marked_processes(marker):
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except (ProcessLookupError, PermissionError):
            pass
    return killed


__all__ = ["MARKER_VARIABLE", "confine_writes_to", "kill_marked", "kill_process_group",
           "marked_processes", "set_resource_limits"]
