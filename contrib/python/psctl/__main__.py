"""python3 -m psctl COMMAND: the commands written in Python (bench)."""

import sys

USAGE = "usage: python3 -m psctl bench [options]   (see --help)\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(USAGE) if argv else sys.stderr.write(USAGE)
        return 0 if argv else 64
    if argv[0] == "bench":
        from .bench import run
        return run(argv[1:])
    sys.stderr.write("python3 -m psctl: unknown command '%s'\n%s"
                     % (argv[0], USAGE))
    return 64


if __name__ == "__main__":
    sys.exit(main())
