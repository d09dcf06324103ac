"""Time to check and expand a 10,000-take shot list (goal: under 1 s)."""

from __future__ import annotations

import time

from capture_assist.shotlist.loader import parse_shotlist
from capture_assist.shotlist.matrix import expand


def ten_thousand_take_yaml() -> str:
    subjects = "\n".join(f"  - {{id: s{i:02d}}}" for i in range(25))
    actions = "\n".join(
        f"  - {{id: a{i:02d}, labels: [x/y/a{i}], expected_duration_s: 5, "
        "beats: [{name: start}, {name: middle}, {name: end}]}"
        for i in range(20)
    )
    return f"""\
version: 1
project: {{id: bench}}
subjects:
{subjects}
actions:
{actions}
angles: [{{id: front}}, {{id: side}}, {{id: top}}, {{id: back}}]
lighting: [{{id: day, cct_k: 5600}}, {{id: tungsten, cct_k: 3200}}]
repetitions: 5
cameras:
  - {{id: cam_a, angles: [front, top], records: {{resolution: [1920, 1080]}}}}
  - {{id: cam_b, angles: [side, back], records: {{resolution: [1920, 1080]}}}}
"""


def best_of(runs: int, function: object) -> tuple[float, object]:
    best = float("inf")
    result = None
    for _ in range(runs):
        start = time.perf_counter()
        result = function()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    text = ten_thousand_take_yaml()
    parse_s, shotlist = best_of(5, lambda: parse_shotlist(text, "bench.yaml"))
    expand_s, matrix = best_of(5, lambda: expand(shotlist))  # type: ignore[arg-type]
    both_s, _ = best_of(5, lambda: expand(parse_shotlist(text, "bench.yaml")))
    takes = len(matrix.takes)  # type: ignore[attr-defined]
    print(f"shot list: {takes} takes x 2 cameras, {len(text) / 1024:.0f} KiB of YAML (best of 5)")
    print(f"  parse + validate (incl. path collision check) {parse_s * 1000:8.1f} ms")
    print(f"  expand into setups and takes                  {expand_s * 1000:8.1f} ms")
    print(
        f"  check + expand together                       {both_s * 1000:8.1f} ms   goal < 1000 ms"
    )


if __name__ == "__main__":
    main()
