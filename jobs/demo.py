"""The README's main job on the embedded defaults: the whole flywheel on real data.

    python -m jobs.demo [--root DIR] [--rounds R] [--budget N] [--modality image|audio]

Ingests scikit-learn's digits with hashtags made wrong on purpose (plus real faults),
trains a first model on the weak labels, then runs rounds of score -> select ->
annotate (a simulated vendor over the real HTTP API, one of its annotators bad) ->
export -> retrain -> gate, printing accuracy per round and the confusion matrix, and
writes an HTML report under the data root. ``--modality audio`` does the same on spoken
keywords that espeak-ng makes at setup time.
"""

from __future__ import annotations

import argparse
import shutil
import sys

from flywheel.cli import name_ray_log
from flywheel.config import Settings
from flywheel.demo import DemoConfig, run_demo
from flywheel.errors import FlywheelError

MARKER = ".flywheel-demo"


def main(argv: list[str] | None = None) -> int:
    defaults = DemoConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="data root (default ./flywheel-data)")
    parser.add_argument("--rounds", type=int, default=defaults.rounds)
    parser.add_argument("--budget", type=int, default=defaults.budget, help="samples per round")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show Ray's own logs (default: a log file)"
    )
    parser.add_argument(
        "--modality",
        choices=("image", "audio"),
        default=defaults.modality,
        help="image: handwritten digits; audio: spoken keywords (espeak-ng)",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="start over: delete a data root that an earlier demo made",
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(root=args.root, verbose=args.verbose)
        marker = settings.root / MARKER
        if args.fresh and marker.exists():  # never delete a lake the demo did not make
            shutil.rmtree(settings.root)
        if (settings.root / "catalog.db").exists():
            why = "an earlier demo's lake (add --fresh)" if marker.exists() else "a lake"
            print(f"flywheel: error: {settings.root} already holds {why}; "
                  "choose another --root", file=sys.stderr)  # fmt: skip
            return 2
        settings.root.mkdir(parents=True, exist_ok=True)
        marker.write_text("made by python -m jobs.demo; --fresh may delete this folder\n")
        config = DemoConfig(rounds=args.rounds, budget=args.budget, epochs=args.epochs,
                            modality=args.modality)  # fmt: skip
        run_demo(settings, config)
    except FlywheelError as err:
        print(f"flywheel: error: {err}", file=sys.stderr)
        return err.exit_code
    finally:
        name_ray_log()
    return 0


if __name__ == "__main__":
    sys.exit(main())
