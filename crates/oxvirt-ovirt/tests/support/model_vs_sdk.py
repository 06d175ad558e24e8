"""Compares oxvirt's generated model tables (JSON on stdin) with the published SDK.

The SDK (ovirt-engine-sdk-python 4.6.3) is generated from the same API model by oVirt's own
metamodel, so its readers' registry and its writers spell every XML name the model has: each
struct's element and collection names, and every attribute a writer sends (with the item name
of lists). Prints one line per difference and exits 1 if there is any.
"""
import inspect
import json
import re
import sys

from ovirtsdk4 import readers, writers

tables = json.load(sys.stdin)
structs = {s["name"]: s for s in tables["structs"]}
problems = []

source = inspect.getsource(readers)
one = {cls: tag for tag, cls in re.findall(r"Reader\.register\('(\w+)', (\w+)Reader\.read_one\)", source)}
many = {cls: tag for tag, cls in re.findall(r"Reader\.register\('(\w+)', (\w+)Reader\.read_many\)", source)}
for cls, tag in one.items():
    s = structs.get(tag)
    if s is None:
        problems.append(f"the SDK reads <{tag}> ({cls}); the tables have no struct {tag}")
    elif many.get(cls) != s["plural"]:
        problems.append(f"{tag}: collection <{many.get(cls)}> in the SDK, <{s['plural']}> in the tables")

wsource = inspect.getsource(writers)
checked = 0
for cls, body in re.findall(r"\nclass (\w+)Writer\(Writer\):(.*?)(?=\nclass |\Z)", wsource, re.S):
    tag = one.get(cls)
    if tag is None:
        continue
    s = structs.get(tag)
    if s is None:
        continue
    attrs = {a["name"]: a for a in s["attributes"]}
    written = {}
    for name in re.findall(r"Writer\.write_(?:string|boolean|integer|decimal|date)\(writer, '(\w+)', obj\.", body):
        written[name] = ("one", "")
    for name in re.findall(r"\.write_one\(obj\.\w+, writer, '(\w+)'\)", body):
        written[name] = ("one", "")
    for item, name in re.findall(r"\.write_many\(obj\.\w+, writer, '(\w+)', '(\w+)'\)", body):
        written[name] = ("many", item)
    for name, item in re.findall(
            r"writer\.write_start\('(\w+)'\)\n\s+for item in obj\.\w+:\n\s+if item is not None:\n"
            r"\s+Writer\.write_\w+\(writer, '(\w+)'", body):
        written[name] = ("many", item)
    if "write_attribute('id'" in body:
        written["id"] = ("one", "")
    for name, (shape, item) in written.items():
        checked += 1
        a = attrs.get(name)
        if a is None:
            problems.append(f"{tag}.{name}: written by the SDK, not in the tables")
        elif (shape == "many") != a["list"] or (shape == "many" and item != a["item"]):
            problems.append(f"{tag}.{name}: SDK writes {shape} {item!r}, tables say list={a['list']} item={a['item']!r}")

for p in problems:
    print(p)
print(f"{len(one)} SDK types, {checked} written attributes compared, {len(problems)} differences")
sys.exit(1 if problems else 0)
