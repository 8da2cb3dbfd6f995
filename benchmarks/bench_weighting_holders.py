"""The weighting stage's own work once the administrative phase's links are there (issue 31, item 4).

Run ``python benchmarks/bench_weighting_holders.py DIR [REPEAT]`` on the folder of a ``nonrecours demo --out DIR``.
The stages before the weighting run in this process, then the administrative phase (its links); each repeat
times, in CPU seconds of this process, ``_holder_columns`` (the frame ids read, the linked holders, the margin
columns), the frame ids' read alone and the whole weighting stage (the holder columns, the frame's margins and
the two calibrations), with the 1-minute load. The last line gives digests of the weights table and of the
holder columns, to compare two versions of the code.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path


def main() -> None:
    demo = Path(sys.argv[1]).resolve()
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    os.chdir(demo)  # the study's paths are relative to its folder
    from nonrecours.io import read_table
    from nonrecours.study import stages
    from nonrecours.study.config import load_study
    from nonrecours.study.stages import weights
    from nonrecours.study.stages.admin import start_phase

    cfg = load_study(demo / "study.toml")
    state: dict = {"tables": {}, "methods": {}, "seeds": {}, "sidecars": {}}
    for name, func in stages.STAGES:
        if name == "weighting":
            break
        for key, value in func(cfg, state).items():
            if isinstance(value, dict) and isinstance(state.get(key), dict):
                state[key].update(value)
            else:
                state[key] = value
    state["admin_phase"] = phase = start_phase(cfg, fork=False)
    phase.links()  # waited for here, not in the timings
    cpu = time.process_time
    for _ in range(repeat):
        t0 = cpu()
        held = weights._holder_columns(cfg, state)
        t1 = cpu()
        read_table(cfg.admin.frame_ids, option="admin.frame_ids", text_columns=("id", "rec_id"))
        t2 = cpu()
        out = weights.weighting_stage(cfg, state)
        t3 = cpu()
        print(
            f"_holder_columns {t1 - t0:.3f} s (frame ids read {t2 - t1:.3f} s), weighting stage {t3 - t2:.3f} s "
            f"CPU, load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    table = out["tables"]["weights"].to_csv().encode()
    columns = str({k: v.tolist() for k, v in held["frame"].items()}).encode()
    print("digests", hashlib.md5(table).hexdigest(), hashlib.md5(columns).hexdigest())


if __name__ == "__main__":
    main()
