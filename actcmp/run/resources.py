"""What this machine offers a sweep: CPUs, memory for the batched engine's stacks, and the
allocator setting that keeps a training step's temporaries in the process. The only
module that reads /proc or calls into libc; the engines take a budget in bytes.

Torch is imported only to ask a CUDA device for its free memory, so that planning
tasks (and ``--dry-run``) import this module without it."""

from __future__ import annotations

import ctypes
import os

#: Share of available memory one group may plan to use (the rest: other workers, the OS).
MEMORY_SHARE = 0.5


def cpu_count() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def memory_budget_bytes(device: str = "cpu", jobs: int = 1, share: float = MEMORY_SHARE) -> int:
    """What each of ``jobs`` workers may plan to use: ``share`` of the free memory of ``device``."""
    if str(device).startswith("cuda"):
        import torch  # lazy: only a CUDA device's memory needs it

        if torch.cuda.is_available():
            free, _ = torch.cuda.mem_get_info(torch.device(device))
            return int(free * share / max(1, jobs))
    available = None
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if available is None:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            available = 4 << 30
    return int(available * share / max(1, jobs))


_allocator_tuned = False


def tune_allocator() -> None:
    """Keep freed memory in the process (glibc): a training step allocates the same large
    temporaries over and over, and returning them to the OS makes every step pay page
    faults for them again (measured: ~20% of a width-256 step). Once per process."""
    global _allocator_tuned
    if _allocator_tuned:
        return
    _allocator_tuned = True
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 32 << 20)
        libc.mallopt(m_trim_threshold, 1 << 30)
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass
