"""Print the first training row as a /predict record (used by scripts/demo.sh)."""

import csv
import json
import sys

meta = json.load(open(sys.argv[1]))
with open(meta["data"]["path"], newline="") as fh:
    record = next(csv.DictReader(fh))
row = {meta["id"]: record[meta["id"]]} if meta.get("id") else {}
for feature in meta["features"]:
    value = record.get(feature["name"], "")
    if feature["kind"] == "numeric":
        row[feature["name"]] = float(value) if value != "" else None
    else:
        row[feature["name"]] = value or None
print(json.dumps(row))
