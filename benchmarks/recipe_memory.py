"""Peak memory of reading a hostile delta recipe: millions of removals, a base of a few files.

The issue's case: a 24 KB delta whose recipe lists 18 million removals took 1.7 GB to apply.
Each measurement runs in a fresh process and reports the peak of the memory Python allocates
while reading (``tracemalloc``, the recipe's text itself not counted):

* ``before``: what deploy did until now, ``json.loads`` of the whole recipe (then its lists);
* ``after``: ``DeltaRecipe.from_bytes`` with the base's index, as deploy now calls it: the
  recipe is refused at the first removal its base does not have, holding no list.

Both read the recipe text from memory (deploy also refuses, before reading, a recipe larger
than its base allows: ``delta_apply.recipe_bounds``, not counted here).

Usage: python benchmarks/recipe_memory.py [--removals 18000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = """
import json, sys, tracemalloc
from envstacks.floor.errors import DeployError
from envstacks.published.archive_protocol import MemberKind
from envstacks.published.delta_recipe import DeltaRecipe
from envstacks.published.file_index import FileIndex, IndexEntry
count, mode = int(sys.argv[1]), sys.argv[2]
base = FileIndex(root="fw", entries=(IndexEntry(path="a", kind=MemberKind.DIR, mode=0o755),))
head = ('{"base_tree_sha256":"%s","changed":[],"format":"envstacks-delta","moved":[],'
        '"payload":[],"remove":[' % base.tree_sha256).encode()
tail = b'],"root":"fw","tree_sha256":"0","version":1}'
text = head + b",".join(b'"p%d"' % i for i in range(count)) + tail
tracemalloc.start()
if mode == "before":
    document = json.loads(text)
    removed = tuple(document["remove"])
else:
    try:
        DeltaRecipe.from_bytes(text, where="d", error=DeployError, base=base)
    except DeployError:
        pass
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({"recipe_mb": len(text) / 1e6, "extra_peak_mb": peak / 1e6}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--removals", type=int, default=18_000_000)
    args = parser.parse_args()
    for mode in ("before", "after"):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(args.removals), mode],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        result = json.loads(out)
        print(
            f"{mode:>6}: recipe {result['recipe_mb']:.0f} MB, peak memory above the text "
            f"{result['extra_peak_mb']:.0f} MB"
        )


if __name__ == "__main__":
    main()
