"""search_kb: the knowledge-base articles in /mnt/kb that share the most words with the query.

stdin:  {"query": "damaged item refund"}
stdout: {"articles": [{"id", "title", "text"}, ...]} (at most five, best first)
exit 0 ok, 1 a malformed article. Python 3 standard library only.
"""

import json
import os
import re
import sys

KB = "/mnt/kb"


def words(text):
    return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 2}


query = words(json.load(sys.stdin)["query"])
scored = []
for name in sorted(os.listdir(KB)):
    if not name.endswith(".json"):
        continue
    with open(os.path.join(KB, name), encoding="utf-8") as handle:
        try:
            article = json.load(handle)
        except ValueError as exc:
            print(f"search_kb: {name} is not JSON: {exc}", file=sys.stderr)
            sys.exit(1)
    score = len(query & words(article["title"] + " " + article["text"]))
    if score:
        scored.append((-score, article["id"], article))
print(json.dumps({"articles": [a for _, _, a in sorted(scored)[:5]]}))
