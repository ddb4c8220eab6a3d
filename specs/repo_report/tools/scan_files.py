"""scan_files: count files and lines per language in a checkout and list TODO/FIXME markers.

stdin:  {"checkout": "/mnt/repo/<name>"}
stdout: a Scan record (project, files, lines, skipped, languages, markers, markers_total)
exit 0 ok, 1 bad input (not a folder, too many files). Python 3 standard library only.
Symbolic links are never followed; binary and oversized files are counted as skipped.
"""

import json
import os
import re
import sys

TOOL = "scan_files"
MAX_FILES = 20000
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_MARKERS = 500
MAX_MARKER_TEXT = 200
SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".tox",
             ".mypy_cache", ".pytest_cache", ".ruff_cache", "dist", "build", "target"}
MARKER = re.compile(r"\b(TODO|FIXME)\b(?:\([^)]*\))?[:\s-]*(.*)")

EXTENSIONS = {
    ".py": "Python", ".pyi": "Python", ".js": "JavaScript", ".mjs": "JavaScript",
    ".ts": "TypeScript", ".tsx": "TypeScript", ".go": "Go", ".rs": "Rust", ".java": "Java",
    ".kt": "Kotlin", ".c": "C", ".h": "C", ".cc": "C++", ".cpp": "C++", ".hpp": "C++",
    ".rb": "Ruby", ".php": "PHP", ".sh": "Shell", ".bash": "Shell", ".md": "Markdown",
    ".rst": "reStructuredText", ".txt": "Text", ".toml": "TOML", ".yaml": "YAML", ".yml": "YAML",
    ".json": "JSON", ".html": "HTML", ".css": "CSS", ".sql": "SQL", ".agent": "specc",
}
FILENAMES = {"Makefile": "Makefile", "Dockerfile": "Dockerfile", ".gitignore": "Config"}


def fail(message, code=1):
    print(f"{TOOL}: {message}", file=sys.stderr)
    sys.exit(code)


def language_of(name):
    if name in FILENAMES:
        return FILENAMES[name]
    return EXTENSIONS.get(os.path.splitext(name)[1].lower(), "Other")


def read_text(path):
    """The file's text, or None when it is binary, oversized or unreadable."""
    try:
        if os.path.getsize(path) > MAX_FILE_BYTES:
            return None
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError:
        return None
    if b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", errors="replace")


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

    files = lines = skipped = markers_total = 0
    per_language = {}
    markers = []
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in sorted(names):
            path = os.path.join(folder, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            files += 1
            if files > MAX_FILES:
                fail(f"{root} has more than {MAX_FILES} files; scan a smaller checkout")
            text = read_text(path)
            if text is None:
                skipped += 1
                continue
            count = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
            lines += count
            stat = per_language.setdefault(language_of(name), {"files": 0, "lines": 0})
            stat["files"] += 1
            stat["lines"] += count
            relative = os.path.relpath(path, root)
            for number, line in enumerate(text.splitlines(), start=1):
                found = MARKER.search(line)
                if not found:
                    continue
                markers_total += 1
                if len(markers) < MAX_MARKERS:
                    note = found.group(2).strip().rstrip("*/->").strip()
                    markers.append({
                        "file": relative[:1000],
                        "line": number,
                        "kind": found.group(1),
                        "text": note[:MAX_MARKER_TEXT],
                    })

    languages = [
        {"language": language, "files": stat["files"], "lines": stat["lines"]}
        for language, stat in sorted(per_language.items(), key=lambda kv: (-kv[1]["lines"], kv[0]))
    ][:100]
    project = os.path.basename(os.path.normpath(root)) or "checkout"
    json.dump({
        "project": project[:200],
        "files": files,
        "lines": lines,
        "skipped": skipped,
        "languages": languages,
        "markers": markers,
        "markers_total": markers_total,
    }, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
