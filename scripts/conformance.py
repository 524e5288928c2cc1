#!/usr/bin/env python3
"""Lists CPython's multiprocessing test classes and methods (from the installed Python's
Lib/test/_test_multiprocessing.py) beside the Rust tests in tests/ named after them
(`<class>_<method>`, class in snake case without `_Test`/`Test`, e.g. `queue_test_put` for
`_TestQueue.test_put`; `manager_` in front for a manager variant). Used to keep
docs/conformance.md true: `python3 scripts/conformance.py`."""
import glob, os, re, sys
import test as cpython_test

src = open(os.path.join(os.path.dirname(cpython_test.__file__), "_test_multiprocessing.py")).read()
classes, cls = {}, None
for line in src.split("\n"):
    m = re.match(r"^class (\w+)\(", line)
    if m:
        cls = m.group(1)
        classes[cls] = []
        continue
    m = re.match(r"    def (test_\w+)", line)
    if m and cls:
        classes[cls].append(m.group(1))

def snake(name):
    name = re.sub(r"^_?Test", "", name) or name
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests")
rust = set()
for path in glob.glob(os.path.join(here, "*.rs")):
    rust.update(re.findall(r"fn (\w+)\s*\(", open(path).read()))

for c, methods in classes.items():
    if not methods:
        continue
    s = snake(c)

    def named(m):
        m = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", m).lower()
        names = {f"{s}_{m}", f"{s}_{m}".replace("_test_test_", "_test_")}
        return any(
            r == f"{p}{n}" or r.startswith(f"{p}{n}_")
            for r in rust
            for p in ("", "manager_")
            for n in names
        )

    ported = [m for m in methods if named(m)]
    print(f"{c}\t{len(ported)}/{len(methods)}\t{' '.join(ported)}\t| missing: {' '.join(m for m in methods if m not in ported)}")
