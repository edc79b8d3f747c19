"""The order a plan's steps run in, in time linear in steps and dependencies (a 1,000-step spec plans in
milliseconds, where repeated scans for ready steps took seconds).

The order is by waves, as the plan has always been: a step's wave is one more than the latest wave among the steps
it waits for (sources: wave 0), and steps of one wave keep their order in the spec. Kahn's algorithm gives each
step its wave; sorting by (wave, position in the spec) gives the order. Steps left over sit on or after a cycle.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence


def dependency_order(upstream: Mapping[str, Sequence[str]]) -> tuple[list[str], list[str]]:
    """(steps in dependency order, steps left over because of a cycle, in spec order); `upstream` maps each step
    (in spec order) to the steps it waits for. Names that are not keys of `upstream` are not waited for."""
    position = {step: index for index, step in enumerate(upstream)}
    waiting = {step: {u for u in ups if u in position and u != step} for step, ups in upstream.items()}
    downstream: dict[str, list[str]] = {step: [] for step in upstream}
    for step, ups in waiting.items():
        for up in ups:
            downstream[up].append(step)
    left = {step: len(ups) for step, ups in waiting.items()}
    wave = dict.fromkeys(upstream, 0)
    ready = deque(step for step, count in left.items() if count == 0)
    done = []
    while ready:
        step = ready.popleft()
        done.append(step)
        for after in downstream[step]:
            wave[after] = max(wave[after], wave[step] + 1)
            left[after] -= 1
            if left[after] == 0:
                ready.append(after)
    order = sorted(done, key=lambda step: (wave[step], position[step]))
    finished = set(done)
    return order, [step for step in upstream if step not in finished]


def find_cycle(pending: Sequence[str], upstream: Mapping[str, Sequence[str]]) -> list[str]:
    """One cycle among `pending` (steps left over by `dependency_order`), from the first of them: each step of it
    waits for the next."""
    waiting = set(pending)
    path = [pending[0]]
    at = {pending[0]: 0}
    while True:
        nxt = next(u for u in upstream[path[-1]] if u in waiting)
        if nxt in at:
            return path[at[nxt] :]
        at[nxt] = len(path)
        path.append(nxt)
