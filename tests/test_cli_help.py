"""The command line explains itself: help for every flag, log lines above progress bars, light start-up."""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys

from vic_paraformer.cli.main import build_parser, main


def _parsers(parser: argparse.ArgumentParser, prog: str = "vic-paraformer"):
    yield prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{prog} {name}")


def test_every_flag_has_help():
    missing = []
    for prog, parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            if not (action.help and action.help.strip()):
                missing.append(f"{prog} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, missing


def test_vic_help_is_plain_text_not_rest(capsys):
    try:
        main(["vic", "--help"])
    except SystemExit:
        pass
    text = capsys.readouterr().out
    assert "``" not in text and ":mod:" not in text and "::" not in text


def test_log_lines_go_through_tqdm_while_a_command_runs(monkeypatch, capsys):
    seen = []

    def fake_run(args):
        seen.extend(type(h).__name__ for h in logging.getLogger("vic_paraformer").handlers)
        return 0

    monkeypatch.setattr("vic_paraformer.cli.strategies_cmd.run", fake_run)
    parser = build_parser()
    monkeypatch.setattr("vic_paraformer.cli.main.build_parser", lambda: parser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            action.choices["strategies"].set_defaults(func=fake_run)
    assert main(["strategies"]) == 0
    assert seen == ["_TqdmLoggingHandler"]
    assert [type(h).__name__ for h in logging.getLogger("vic_paraformer").handlers] == ["StreamHandler"]


def test_help_and_listing_do_not_import_torch_or_spotpy():
    code = ("import sys, json\n"
            "from vic_paraformer.cli.main import build_parser, main\n"
            "build_parser().format_help()\n"
            "main(['strategies'])\n"
            "print(json.dumps({m: m in sys.modules for m in ('torch', 'spotpy', 'matplotlib', 'dask', 'xarray')}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out.strip().splitlines()[-1])
    assert loaded == {"torch": False, "spotpy": False, "matplotlib": False, "dask": False, "xarray": False}, loaded
