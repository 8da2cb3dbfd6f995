"""The demo study through the Python API: simulate, write the study file, run it, read the results.

Run from anywhere::

    python examples/walkthrough.py [FOLDER]      # default: ./walkthrough-study

It does what ``nonrecours demo --out FOLDER`` does, one step at a time.
"""

from __future__ import annotations

import sys
from pathlib import Path

from nonrecours.simulate import simulate_population
from nonrecours.study import load_study, run_study
from nonrecours.study.demo import example_study, summary_table


def main(folder: Path) -> None:
    # 1. A synthetic population: recipients (the sampling frame), territories (covariates), truth.
    population = simulate_population(200, seed=1)
    population.write(folder / "population", overwrite=True)
    print(population.summary())

    # 2. The study file (the same as examples/study.toml): paths relative to it.
    study_file = folder / "study.toml"
    study_file.write_text(example_study(seed=1), encoding="utf-8")

    # 3. Validate it (unknown keys, wrong types, missing files raise ConfigError naming the key).
    config = load_study(study_file)
    print(f"design: {config.design.allocation.method} allocation of n = {config.design.allocation.n} "
          f"in strata {', '.join(config.design.strata)}")

    # 4. Run every stage; progress lines go to stderr.
    result = run_study(config, overwrite=True, progress=lambda line: print(line, file=sys.stderr))

    # 5. The result tables are those written to the output folder.
    print(summary_table(result).round(2).to_string(index=False))
    sae = result.tables["sae"]
    print("territories with the lowest small-area CMU-C take-up:")
    print(sae[sae["right"] == "cmuc"].nsmallest(5, "eblup")[["territory", "direct", "eblup", "ci_low", "ci_high",
                                                                 "gamma"]].round(3).to_string(index=False))
    print(result.tables["comparison_summary"].round(3).to_string(index=False))
    print(f"report: {result.files['publication/report.html']}; manifest: {result.files['publication/manifest.json']} "
          f"(share {result.folder / 'publication'}; {result.folder / 'microdata'} is confidential)")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "walkthrough-study"))
