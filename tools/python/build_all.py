"""Rebuild every realgen-mini artifact from /work/shared/realbench-data (CPU, ~45 min, 1 thread).

python tools/python/build_all.py [generator_budget_s=1350] [cnn_budget_s=150] [align_budget_s=150]
Not run in CI.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(*args):
    print("+", " ".join(args), flush=True)
    subprocess.run([sys.executable, *args], cwd=HERE, check=True)


def main():
    gb = sys.argv[1] if len(sys.argv) > 1 else "1350"
    cb = sys.argv[2] if len(sys.argv) > 2 else "150"
    ab = sys.argv[3] if len(sys.argv) > 3 else "150"
    run("prep_data.py")
    run("tokenizer.py")
    run("train_generator.py", gb)
    run("export_generator.py")
    run("sample_fakes.py")
    run("train_detectors.py", "all", cb)
    run("train_align.py", ab)
    run("evaluate.py")


if __name__ == "__main__":
    main()
