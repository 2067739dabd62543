"""Peak resident memory of a process tree (this process and all its descendants), from Linux /proc.

Used by the benchmarks as ``with PeakRSS() as rss: ...; rss.peak`` (bytes). Children count too, so
joblib/loky workers and other subprocesses are included.
"""

from __future__ import annotations

import os
import threading


def tree_rss_bytes(root_pid: int) -> int:
    """Sum of VmRSS over `root_pid` and all its descendants, in bytes (0 for a vanished process)."""
    parent_of, rss = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:  # the process ended while we looked
            continue
        parent_of[int(entry)] = int(fields["PPid"])
        rss[int(entry)] = int(fields.get("VmRSS", "0 kB").split()[0]) * 1024

    def in_tree(pid: int) -> bool:
        while pid > 1:
            if pid == root_pid:
                return True
            pid = parent_of.get(pid, 0)
        return False

    return sum(size for pid, size in rss.items() if in_tree(pid))


class PeakRSS:
    """Context manager sampling the process tree's RSS in a thread every `interval_s` seconds.

    Attributes
    ----------
    peak : int
        Largest sampled RSS of this process plus its descendants, in bytes (sampled on entry,
        periodically, and on exit).
    """

    def __init__(self, interval_s: float = 0.2, pid: int | None = None) -> None:
        self.interval_s, self.pid, self.peak = interval_s, pid or os.getpid(), 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        self.peak = max(self.peak, tree_rss_bytes(self.pid))

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> PeakRSS:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
