"""The ``onematter`` command line.

Each command lives beside the code it drives; this module only lists them.
A command module provides ``add_arguments(parser)`` and ``run(args) -> int``;
it keeps heavy imports inside ``run`` so that building the parser stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# (words, module, help)
COMMANDS: list[tuple[tuple[str, ...], str, str]] = [
    (("serve",), "gateway.serve", "start the hub (embedded departments unless configured)"),
    (("fixtures", "serve"), "fixtures.serve", "start the five simulated department systems"),
    (("connector", "new"), "connectors.scaffold", "write a new connector package skeleton"),
    (("connector", "check"), "gateway.commands.connector_check", "validate a connector mapping file"),
    (("registry", "migrate"), "gateway.commands.registry.migrate", "create or upgrade the registry schema"),
    (("registry", "seed"), "gateway.commands.registry.seed", "load the report's delegation ledger"),
    (("registry", "import"), "gateway.commands.registry.import_", "import a delegation list (xlsx or csv)"),
    (("registry", "export"), "gateway.commands.registry.export", "export the coverage report (xlsx or csv)"),
    (("token", "mint"), "gateway.commands.token_mint", "mint a demo bearer token"),
    (("audit", "verify"), "gateway.commands.audit_verify", "verify the access log's hash chain"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="onematter", description="OneMatter Hub")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    groups: dict[tuple[str, ...], argparse._SubParsersAction[argparse.ArgumentParser]] = {}
    root = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups[()] = root
    for words, module, help_text in COMMANDS:
        for depth in range(1, len(words)):
            prefix = words[:depth]
            if prefix not in groups:
                group_parser = groups[prefix[:-1]].add_parser(prefix[-1], help=f"{prefix[-1]} commands")
                groups[prefix] = group_parser.add_subparsers(
                    dest="_".join(prefix), required=True, metavar="COMMAND"
                )
        sub = groups[words[:-1]].add_parser(words[-1], help=help_text, description=help_text)
        sub.set_defaults(_module=module)
        _load(module).add_arguments(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("onematter-hub")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "(not installed)"


def _load(module: str):  # type: ignore[no-untyped-def]
    return importlib.import_module(module)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(_load(args._module).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
