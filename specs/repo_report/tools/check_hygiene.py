"""check_hygiene: does a checkout have a README, a recognised license, tests and CI?

stdin:  {"checkout": "/mnt/repo/<name>"}
stdout: a Hygiene record {"readme", "readme_lines", "license", "tests", "ci"}
exit 0 ok, 1 bad input (not a folder). Python 3 standard library only.
"""

import json
import os
import sys

TOOL = "check_hygiene"
README_NAMES = ("readme", "readme.md", "readme.rst", "readme.txt", "readme.markdown")
LICENSE_NAMES = ("license", "license.md", "license.txt", "licence", "licence.md", "licence.txt",
                 "copying", "copying.md", "copying.txt")
# (license id, phrases that must all appear, lower case, whitespace collapsed)
LICENSE_SIGNATURES = (
    ("Apache-2.0", ("apache license", "version 2.0")),
    ("MPL-2.0", ("mozilla public license", "2.0")),
    ("GPL-3.0", ("gnu general public license", "version 3")),
    ("BSD-3-Clause", ("redistribution and use in source and binary forms",
                      "neither the name of the copyright holder")),
    ("MIT", ("permission is hereby granted, free of charge",)),
)
CI_PATHS = (".github/workflows", ".gitlab-ci.yml", ".circleci", "Jenkinsfile", ".travis.yml",
            ".ci", "azure-pipelines.yml", ".woodpecker.yml")
TEST_DIRS = ("tests", "test", "spec", "__tests__")


def fail(message, code=1):
    print(f"{TOOL}: {message}", file=sys.stderr)
    sys.exit(code)


def find(root, names):
    """The first regular file at the checkout's root whose lower-cased name is in names."""
    for entry in sorted(os.listdir(root)):
        path = os.path.join(root, entry)
        if entry.lower() in names and os.path.isfile(path) and not os.path.islink(path):
            return path
    return None


def read(path, limit=256 * 1024):
    with open(path, "rb") as handle:
        return handle.read(limit).decode("utf-8", errors="replace")


def license_kind(path):
    if path is None:
        return "missing"
    text = " ".join(read(path).lower().split())
    for kind, phrases in LICENSE_SIGNATURES:
        if all(phrase in text for phrase in phrases):
            return kind
    return "unrecognised"


def has_tests(root):
    if any(os.path.isdir(os.path.join(root, name)) for name in TEST_DIRS):
        return True
    for _folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "node_modules"]
        for name in names:
            if name.startswith("test_") or name.endswith(("_test.py", "_test.go", ".test.js",
                                                           ".test.ts", ".spec.ts")):
                return True
    return False


def main():
    try:
        args = json.load(sys.stdin)
    except json.JSONDecodeError as exc:
        fail(f"arguments are not JSON: {exc}")
    root = args.get("checkout") if isinstance(args, dict) else None
    if not isinstance(root, str):
        fail('expected arguments {"checkout": "<absolute path>"}')
    if not os.path.isdir(root):
        fail(f"{root} is not a folder")
    try:
        readme = find(root, README_NAMES)
        readme_lines = len(read(readme).splitlines()) if readme else 0
        result = {
            "readme": readme is not None,
            "readme_lines": readme_lines,
            "license": license_kind(find(root, LICENSE_NAMES)),
            "tests": has_tests(root),
            "ci": any(os.path.exists(os.path.join(root, name)) for name in CI_PATHS),
        }
    except OSError as exc:
        fail(f"cannot read {root}: {exc}")
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
