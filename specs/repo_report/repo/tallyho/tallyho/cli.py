"""Command line interface."""

import argparse
import sys

from tallyho.count import count_lines, count_words, lines_by_extension


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tallyho")
    sub = parser.add_subparsers(dest="command", required=True)
    words = sub.add_parser("words", help="count the words of a file")
    words.add_argument("file")
    lines = sub.add_parser("lines", help="count lines")
    lines.add_argument("path")
    lines.add_argument("--by-extension", action="store_true")
    args = parser.parse_args(argv)

    if args.command == "words":
        with open(args.file, encoding="utf-8") as handle:
            print(count_words(handle.read()))
    elif args.by_extension:
        for ext, total in sorted(lines_by_extension(args.path).items()):
            print(f"{ext}\t{total}")
    else:
        # TODO(maya): accept "-" for stdin
        with open(args.path, encoding="utf-8") as handle:
            print(count_lines(handle.read()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
