"""specc's own seccomp profile, passed explicitly to every container it creates (tools and egress
proxies), so the system calls a tool may make do not depend on the engine's version.

It starts from what the engine's default profile grants a container without capabilities, and
removes what a tool has no use for and what has been a way into the kernel (`REMOVED`).
Everything not listed fails with EPERM.
"""

from __future__ import annotations

import hashlib
import json
from typing import Final

#: Calls the engine's default profile allows an unprivileged container that specc refuses, and why.
REMOVED: Final = {
    "io_uring_setup": "io_uring bypasses seccomp for the calls it submits and has been a steady source of kernel bugs",
    "io_uring_enter": "see io_uring_setup",
    "io_uring_register": "see io_uring_setup",
    "ptrace": "no tool debugs another process; tracing is how one process reads another's memory",
    "process_vm_readv": "reads another process's memory",
    "process_vm_writev": "writes another process's memory",
    "name_to_handle_at": "file handles are the first half of the open_by_handle_at escape",
    "fanotify_mark": "no use without fanotify_init, which needs a capability",
    "remap_file_pages": "deprecated; emulated by the kernel, with a history of bugs",
    "vmsplice": "zero-copy page moves behind several kernel exploits (Dirty Pipe's family)",
    "memfd_secret": "memory hidden even from the kernel's own inspection; no tool needs it",
}

#: What the engine's default profile grants a container without capabilities, native calls only
#: (files, memory, processes, signals, time, sockets, IPC); `profile()` takes `REMOVED` out.
_ALLOWED: Final = (
    # files and folders
    "access", "chdir", "chmod", "chown", "close", "close_range", "copy_file_range", "creat", "dup",
    "dup2", "dup3", "faccessat", "faccessat2", "fadvise64", "fallocate", "fchdir", "fchmod", "fchmodat",
    "fchown", "fchownat", "fcntl", "fdatasync", "fgetxattr", "flistxattr", "flock", "fremovexattr",
    "fsetxattr", "fstat", "fstatfs", "fsync", "ftruncate", "futimesat", "getcwd", "getdents",
    "getdents64", "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch",
    "ioctl", "lchown", "lgetxattr", "link", "linkat", "listxattr", "llistxattr", "lremovexattr", "lseek",
    "lsetxattr", "lstat", "mkdir", "mkdirat", "mknod", "mknodat", "newfstatat", "open", "openat",
    "openat2", "pread64", "preadv", "preadv2", "pwrite64", "pwritev", "pwritev2", "read", "readahead",
    "readlink", "readlinkat", "readv", "removexattr", "rename", "renameat", "renameat2", "rmdir",
    "sendfile", "setxattr", "splice", "stat", "statfs", "statx", "symlink", "symlinkat", "sync",
    "sync_file_range", "syncfs", "tee", "truncate", "umask", "unlink", "unlinkat", "utime", "utimensat",
    "utimes", "write", "writev",
    # asynchronous I/O of the classic kind
    "io_cancel", "io_destroy", "io_getevents", "io_pgetevents", "io_setup", "io_submit",
    # memory
    "brk", "madvise", "membarrier", "memfd_create", "mincore", "mlock", "mlock2", "mlockall", "mmap",
    "mprotect", "mremap", "msync", "munlock", "munlockall", "munmap", "pkey_alloc", "pkey_free",
    "pkey_mprotect", "remap_file_pages", "memfd_secret", "vmsplice",
    # processes, threads, scheduling, limits
    "arch_prctl", "capget", "capset", "execve", "execveat", "exit", "exit_group", "fork", "futex",
    "futex_waitv", "get_robust_list", "get_thread_area", "getcpu", "getegid", "geteuid", "getgid",
    "getgroups", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid",
    "getresuid", "getrlimit", "getrusage", "getsid", "gettid", "getuid", "ioprio_get", "ioprio_set",
    "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "modify_ldt",
    "pidfd_open", "pidfd_send_signal", "prctl", "prlimit64", "process_mrelease", "rseq",
    "sched_get_priority_max", "sched_get_priority_min", "sched_getaffinity", "sched_getattr",
    "sched_getparam", "sched_getscheduler", "sched_rr_get_interval", "sched_setaffinity",
    "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp",
    "set_robust_list", "set_thread_area", "set_tid_address", "setfsgid", "setfsuid", "setgid",
    "setgroups", "setpgid", "setpriority", "setregid", "setresgid", "setresuid", "setreuid",
    "setrlimit", "setsid", "setuid", "sysinfo", "uname", "vfork", "wait4", "waitid",
    # signals
    "alarm", "kill", "pause", "restart_syscall", "rt_sigaction", "rt_sigpending", "rt_sigprocmask",
    "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_tgsigqueueinfo",
    "sigaltstack", "signalfd", "signalfd4", "tgkill", "tkill",
    # time
    "clock_getres", "clock_gettime", "clock_nanosleep", "getitimer", "gettimeofday", "nanosleep",
    "setitimer", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
    "timer_settime", "timerfd_create", "timerfd_gettime", "timerfd_settime", "times",
    # sockets, pipes and waiting on them (the network itself is the container's, usually none)
    "accept", "accept4", "bind", "connect", "epoll_create", "epoll_create1", "epoll_ctl",
    "epoll_pwait", "epoll_pwait2", "epoll_wait", "eventfd", "eventfd2", "getpeername", "getsockname",
    "getsockopt", "listen", "name_to_handle_at", "fanotify_mark", "ptrace", "process_vm_readv",
    "process_vm_writev", "io_uring_setup", "io_uring_enter", "io_uring_register", "pipe", "pipe2", "poll", "ppoll",
    "pselect6", "recvfrom", "recvmmsg",
    "recvmsg", "select", "sendmmsg", "sendmsg", "sendto", "setsockopt", "shutdown", "socketpair",
    # System V and POSIX IPC, private to the container's IPC namespace
    "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedsend", "mq_unlink", "msgctl",
    "msgget", "msgrcv", "msgsnd", "semctl", "semget", "semop", "semtimedop", "shmat", "shmctl", "shmdt",
    "shmget",
)

#: clone may make threads and processes, never new namespaces (the mask is every CLONE_NEW* flag).
_CLONE_NAMESPACE_FLAGS: Final = 0x7E020000
#: AF_VSOCK: a socket to the hypervisor, never the tool's business.
_AF_VSOCK: Final = 40
#: The personalities a program may ask for: Linux, and the variants glibc and some runtimes use.
_PERSONALITIES: Final = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
#: ENOSYS, so that glibc falls back from clone3 (whose flags seccomp cannot see) to clone.
_ENOSYS: Final = 38


def profile() -> dict[str, object]:
    """The profile, in the engine's JSON format (`defaultAction`, `syscalls`)."""
    allowed = sorted(set(_ALLOWED) - set(REMOVED))
    rules: list[dict[str, object]] = [
        {"names": allowed, "action": "SCMP_ACT_ALLOW"},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": _CLONE_NAMESPACE_FLAGS, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": _ENOSYS},
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": _AF_VSOCK, "valueTwo": 0, "op": "SCMP_CMP_NE"}]},
    ]
    rules.extend(
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": value, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]}
        for value in _PERSONALITIES
    )
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "syscalls": rules}


#: The profile as the engine receives it: compact JSON, the same bytes every time.
PROFILE_JSON: Final = json.dumps(profile(), sort_keys=True, separators=(",", ":"))

#: The security option that carries it; the check before start compares it byte for byte.
SECCOMP_OPT: Final = "seccomp=" + PROFILE_JSON

#: A short name for the record: the run store keeps this, not the whole profile.
PROFILE_ID: Final = "specc-" + hashlib.sha256(PROFILE_JSON.encode()).hexdigest()[:12]


def recorded(option: str) -> str:
    """A security option as the run store keeps it: the profile by its id, not its bytes."""
    if option == SECCOMP_OPT:
        return f"seccomp={PROFILE_ID}"
    if option.startswith("seccomp="):
        return "seccomp=(another profile)"
    return option
