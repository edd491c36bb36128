"""Search quality: does search_tools find the right tool among Truto's whole Stripe catalog?

Runs every task of ``bench/search_tasks.json`` (a billing job in an agent's words, with the
tools that would do it) against the 468-tool catalog derived from Stripe's API
(``truto_stripe_mcp/sandbox/data/stripe_catalog.json.gz``), with two rankers in the same run:

* **ours**: ``truto_stripe_mcp.catalog.search.search``, exactly what search_tools calls.
* **BM25** (the baseline): Okapi BM25 (k1=1.2, b=0.75) over each tool's name words and
  Stripe's description, with the same tokenizer, stemming and stop words as ours, so the
  difference is the ranking, not the word splitting.

A task is a top-1 hit when the first result is one of its tools, a top-5 hit when any of
the first five is. The file's queries that no Stripe tool answers ("weather in Paris")
must get no result at all from ours. Speed: the median and p95 of one warm search (the
catalog's index built), over every task query, repeated; and the one-off index build.

    python -m bench.search_quality [--misses] [--repeat N] [--json PATH]

Target: ours top-5 >= 0.9 and above BM25's top-5, and nothing for every unrelated query.
Exit status 0 when met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._common import REPO_ROOT, line, machine, ms, summarize, write_json
from truto_stripe_mcp.catalog.search import search
from truto_stripe_mcp.catalog.search_words import STOP_WORDS, text_words
from truto_stripe_mcp.catalog.spec import Catalog, ToolSpec

TASKS_PATH = REPO_ROOT / "bench" / "search_tasks.json"
CATALOG_PATH = REPO_ROOT / "truto_stripe_mcp" / "sandbox" / "data" / "stripe_catalog.json.gz"
TOP1_REPORTED = 1
TOP_K = 5
TARGET_TOP_K = 0.9

Ranker = Callable[[str], list[str]]


@dataclass(frozen=True)
class Task:
    """A job in an agent's words and the tools that would do it (any one of them is right)."""

    query: str
    accept: tuple[str, ...]
    area: str
    set: str


def load_specs(path: Path = CATALOG_PATH) -> tuple[ToolSpec, ...]:
    """The whole derived catalog, parsed the way the server parses Truto's answer."""
    with gzip.open(path, "rt") as file:
        return Catalog.from_entries(json.load(file)["tools"]).specs


def load_tasks(path: Path = TASKS_PATH) -> tuple[list[Task], list[str]]:
    """(tasks, unrelated queries) from the task file."""
    data = json.loads(path.read_text())
    tasks = [
        Task(row["query"], tuple(row["accept"]), row["area"], row.get("set", "tuning"))
        for row in data["tasks"]
    ]
    return tasks, list(data["negative"])


def unknown_tools(tasks: Sequence[Task], specs: Sequence[ToolSpec]) -> list[str]:
    """Accepted names the catalog does not have: a task file typo would otherwise read as a miss."""
    names = {spec.name for spec in specs}
    return sorted({name for task in tasks for name in task.accept if name not in names})


class BM25:
    """Okapi BM25 over each tool's name words and description: the textbook baseline."""

    def __init__(self, specs: Sequence[ToolSpec], k1: float = 1.2, b: float = 0.75) -> None:
        self.names = [spec.name for spec in specs]
        self.k1, self.b = k1, b
        self.docs = [
            Counter(self.tokens(" ".join(spec.name.split("_")) + " " + spec.description)) for spec in specs
        ]
        self.lengths = [sum(doc.values()) for doc in self.docs]
        self.average = sum(self.lengths) / len(self.lengths)
        having: Counter[str] = Counter(term for doc in self.docs for term in doc)
        total = len(self.docs)
        self.idf = {term: math.log(1 + (total - n + 0.5) / (n + 0.5)) for term, n in having.items()}
        self.postings: dict[str, list[int]] = defaultdict(list)
        for position, doc in enumerate(self.docs):
            for term in doc:
                self.postings[term].append(position)

    @staticmethod
    def tokens(text: str) -> list[str]:
        return [word for word in text_words(text) if word not in STOP_WORDS]

    def rank(self, query: str, limit: int = TOP_K) -> list[str]:
        scores: dict[int, float] = defaultdict(float)
        for term in set(self.tokens(query)):
            for position in self.postings.get(term, ()):
                count = self.docs[position][term]
                norm = 1 - self.b + self.b * self.lengths[position] / self.average
                scores[position] += self.idf[term] * count * (self.k1 + 1) / (count + self.k1 * norm)
        best = sorted(scores.items(), key=lambda item: (-item[1], self.names[item[0]]))
        return [self.names[position] for position, _ in best[:limit]]


def rankers(specs: tuple[ToolSpec, ...]) -> dict[str, Ranker]:
    baseline = BM25(specs)
    return {
        "ours": lambda query: [hit.name for hit in search(specs, query, limit=TOP_K)],
        "bm25": baseline.rank,
    }


def hit_rates(rank: Ranker, tasks: Sequence[Task]) -> dict[str, Any]:
    """Top-1 and top-5 hit rates of one ranker, and the tasks it misses at top 5 with what it found."""
    top1 = top5 = 0
    misses = []
    for task in tasks:
        found = rank(task.query)
        top1 += bool(found[:TOP1_REPORTED]) and found[0] in task.accept
        if set(found[:TOP_K]) & set(task.accept):
            top5 += 1
        else:
            misses.append({"query": task.query, "accept": list(task.accept), "found": found[:TOP_K]})
    count = len(tasks) or 1
    return {"top1": top1 / count, "top5": top5 / count, "tasks": len(tasks), "misses": misses}


def answered(rank: Ranker, queries: Sequence[str]) -> dict[str, list[str]]:
    """What a ranker returns for queries no tool answers (ours should return nothing)."""
    return {query: rank(query) for query in queries}


def timings(specs: tuple[ToolSpec, ...], queries: Sequence[str], repeat: int) -> dict[str, Any]:
    """One cold search (the index built), then every query ``repeat`` times warm.

    The cold search runs on copies of the specs: new objects are a catalog search has not
    seen (as after a catalog refresh), so it builds their index.
    """
    started = time.perf_counter()
    search(tuple(dataclasses.replace(spec) for spec in specs), queries[0])
    cold = time.perf_counter() - started
    search(specs, queries[0])
    samples = []
    for _ in range(repeat):
        for query in queries:
            started = time.perf_counter()
            search(specs, query, limit=8)
            samples.append(time.perf_counter() - started)
    return {"cold_first_search_s": cold, "warm_search_s": summarize(samples)}


def run(repeat: int) -> dict[str, Any]:
    specs = load_specs()
    tasks, negatives = load_tasks()
    missing = unknown_tools(tasks, specs)
    if missing:
        raise SystemExit(f"bench/search_tasks.json names tools the catalog lacks: {', '.join(missing)}")
    by_ranker = rankers(specs)
    sets = sorted({task.set for task in tasks})
    report: dict[str, Any] = {"machine": machine(), "catalog_tools": len(specs), "rankers": {}}
    for name, rank in by_ranker.items():
        report["rankers"][name] = {
            "all": hit_rates(rank, tasks),
            **{part: hit_rates(rank, [t for t in tasks if t.set == part]) for part in sets},
            "unrelated": answered(rank, negatives),
        }
    report["timing"] = timings(specs, [task.query for task in tasks], repeat)
    ours, bm25 = report["rankers"]["ours"], report["rankers"]["bm25"]
    report["target"] = {
        "top5_at_least": TARGET_TOP_K,
        "met": ours["all"]["top5"] >= TARGET_TOP_K
        and ours["all"]["top5"] > bm25["all"]["top5"]
        and not any(ours["unrelated"].values()),
    }
    report["sets"] = sets
    return report


def print_summary(report: dict[str, Any], show_misses: bool) -> None:
    m = report["machine"]
    print(
        f"search quality over {report['catalog_tools']} tools; {m['cpus']} cpus, Python {m['python']}, "
        f"load {m['loadavg_1min']:.2f}"
    )
    print(
        f"{'tasks':<22} {'n':>4} {'ours top-1':>11} {'ours top-5':>11} {'BM25 top-1':>11} {'BM25 top-5':>11}"
    )
    for part in ("all", *report["sets"]):
        ours, bm25 = report["rankers"]["ours"][part], report["rankers"]["bm25"][part]
        print(
            f"{part:<22} {ours['tasks']:>4} {ours['top1']:>11.3f} {ours['top5']:>11.3f} "
            f"{bm25['top1']:>11.3f} {bm25['top5']:>11.3f}"
        )
    for name in ("ours", "bm25"):
        unrelated = report["rankers"][name]["unrelated"]
        empty = sum(1 for found in unrelated.values() if not found)
        line(f"unrelated queries answered with nothing ({name})", f"{empty}/{len(unrelated)}")
    timing = report["timing"]
    warm = timing["warm_search_s"]
    line("first search (builds the catalog's index)", ms(timing["cold_first_search_s"]))
    line(f"one search, warm: median (p95), n={int(warm['n'])}", f"{ms(warm['median'])} ({ms(warm['p95'])})")
    verdict = "met" if report["target"]["met"] else "NOT met"
    line(f"target: ours top-5 >= {TARGET_TOP_K}, above BM25, nothing unrelated", verdict)
    if show_misses:
        for name in ("ours", "bm25"):
            for miss in report["rankers"][name]["all"]["misses"]:
                print(f"{name} misses {miss['query']!r}: wanted {miss['accept']}, found {miss['found']}")
        for query, found in report["rankers"]["ours"]["unrelated"].items():
            if found:
                print(f"ours answers unrelated {query!r} with {found}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20, help="warm passes over the queries (default 20)")
    parser.add_argument("--misses", action="store_true", help="list every task a ranker misses at top 5")
    parser.add_argument("--json", type=Path, help="write all figures to this JSON file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args.repeat)
    print_summary(report, args.misses)
    write_json(args.json, report)
    return 0 if report["target"]["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
