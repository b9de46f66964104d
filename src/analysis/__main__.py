"""Command line: ``python -m analysis run|bench ...`` (also installed as ``fenqun``)."""

from __future__ import annotations

import sys

_USAGE = """usage: python -m analysis COMMAND [options]

commands:
  run     run the report notebooks and publish HTML   (python -m analysis run --help)
  bench   time the customer summary and the CLV models against lifetimes, the
          segmentation, churn features, fitting and scoring, the clustering, and the
          segment snapshots and migration of 1,000,000 customers
          (--only summary|segments|clv|churn|clusters|evaluation|engines|scale|recommend,
          --customers N); engines: the summary on DuckDB and on local Spark;
          scale: how many lines DuckDB summarises (copies of the 10M; --scale-max-copies N,
          --scale-time-limit SECONDS); recommend: training and top-10 for 1M customers x
          --products N (default 5000)
"""


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a sub-command; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    if command == "run":
        from analysis.runner import main as run_main

        return run_main(rest)
    if command == "bench":
        from analysis import (
            bench,
            bench_churn,
            bench_clusters,
            bench_clv,
            bench_engines,
            bench_evaluation,
            bench_recommend,
            bench_scale,
            bench_segments,
        )

        parts = {"summary": bench.main, "segments": bench_segments.main, "clv": bench_clv.main,
                 "churn": bench_churn.main, "clusters": bench_clusters.main,
                 "evaluation": bench_evaluation.main, "engines": bench_engines.main,
                 "scale": bench_scale.main, "recommend": bench_recommend.main}
        only = rest[rest.index("--only") + 1] if "--only" in rest else None
        if only is not None and only not in parts:
            print("--only takes summary, segments, clv, churn, clusters, evaluation, engines, "
                  "scale or recommend", file=sys.stderr)
            return 2
        for name, part in parts.items():
            code = part(rest) if only in (None, name) else 0
            if code:
                return code
        return 0
    print(f"unknown command {command!r}\n\n{_USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
