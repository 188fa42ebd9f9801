"""Measuring side by side: interleaved runs (A B C, B C A, ...), medians, verdicts.

The machine is shared and noisy, so absolute times are never compared across runs: every
ratio comes from variants measured alternately in the same process, in rotating order so
that no variant always runs first (warm caches) or last.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass
class Result:
    name: str
    ratio: float
    target: float | None  # None: reported, not judged (INFO)
    sizes: str
    details: list[str] = field(default_factory=list)
    higher_is_better: bool = False

    @property
    def verdict(self) -> str:
        if self.target is None:
            return "INFO"
        ok = self.ratio >= self.target if self.higher_is_better else self.ratio <= self.target
        return "PASS" if ok else "FAIL"

    @property
    def target_text(self) -> str:
        if self.target is None:
            return "-"
        return f"{'>=' if self.higher_is_better else '<='}{self.target:g}"

    def line(self) -> str:
        return f"{self.name} ratio={self.ratio:.3f} target={self.target_text} {self.verdict}"


def interleaved(
    variants: Mapping[str, Callable[[], object]],
    *,
    repeats: int,
    number: int = 1,
    reset: Callable[[], object] | None = None,
) -> dict[str, float]:
    """Median seconds per call of each variant (see ``samples``)."""
    return {
        name: statistics.median(values)
        for name, values in samples(variants, repeats=repeats, number=number, reset=reset).items()
    }


def overheads(times: Mapping[str, list[float]], base: str) -> dict[str, float]:
    """Median over repeats of each variant's time minus ``base``'s in the same repeat.

    Pairing within a repeat cancels the machine's slow drifts (another process starting
    a test suite), which a difference of two medians would not.
    """
    return {
        name: statistics.median(a - b for a, b in zip(values, times[base], strict=True))
        for name, values in times.items()
        if name != base
    }


def samples(
    variants: Mapping[str, Callable[[], object]],
    *,
    repeats: int,
    number: int = 1,
    reset: Callable[[], object] | None = None,
    after: Callable[[str], object] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Seconds per call of each variant, one sample per repeat.

    ``clock=time.process_time`` measures CPU time of this process: for pure Python work
    on a shared machine it leaves out the time the scheduler gave to other processes,
    the largest noise here. Database work happens in the server, so it needs wall time.

    Each repeat times ``number`` calls of every variant in turn, starting one variant
    later than the previous repeat. ``reset`` (untimed) runs before every timed batch.
    ``after(name)`` (untimed) runs after it, e.g. to check what the variant did.
    The garbage collector is paused inside a batch: a collection lands on whichever
    variant happens to allocate the last object, which is noise, not cost.
    """
    names = list(variants)
    found: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            if reset is not None:
                reset()
            fn = variants[name]
            gc.collect()
            gc.disable()
            try:
                started = clock()
                for _ in range(number):
                    fn()
                elapsed = clock() - started
            finally:
                gc.enable()
            found[name].append(elapsed / number)
            if after is not None:
                after(name)
    return found


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f}us"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}ms"
