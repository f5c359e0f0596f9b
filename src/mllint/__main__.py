"""The `mllint` command (and `python -m mllint`): replays the same command's last run when nothing
it read has changed (mllint.run.replay), else runs the CLI (mllint.frontends.cli), which may record this run."""

import sys


def main() -> None:
    from mllint.run import replay

    argv = sys.argv[1:]
    status = replay.replay(argv)
    if status is not None:
        sys.exit(status)
    from mllint.engine.packs import PackError
    from mllint.frontends.cli import main as cli

    replay.current = replay.Recorder(argv)
    try:
        cli()
    except PackError as exc:  # a broken rule pack (mllint.engine.packs), found wherever rules are first needed
        print(f"mllint: error: {exc}", file=sys.stderr)
        sys.exit(2)
    finally:  # mllint called in-process (tests): the next CLI call is not this command's run
        replay.current = None


if __name__ == "__main__":
    main()
