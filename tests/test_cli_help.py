"""The command line explains itself: help for every flag, log lines above progress bars, light start-up."""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys

from vic_paraformer.cli.main import build_parser, main


def _run_and_list_modules(lines: list[str], modules: tuple[str, ...]) -> tuple[str, dict[str, bool]]:
    """Run ``lines`` in a fresh interpreter; its output and which of ``modules`` it ended up importing."""
    code = "\n".join(["import sys, json", *lines,
                      f"print(json.dumps({{m: m in sys.modules for m in {modules!r}}}))"]) + "\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return out, json.loads(out.strip().splitlines()[-1])


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
    _, loaded = _run_and_list_modules(["from vic_paraformer.cli.main import build_parser, main",
                                       "build_parser().format_help()", "main(['strategies'])"],
                                      ("torch", "spotpy", "matplotlib", "dask", "xarray"))
    assert loaded == {"torch": False, "spotpy": False, "matplotlib": False, "dask": False, "xarray": False}, loaded


def test_strategies_name_lists_every_option_with_type_and_default(capsys):
    from vic_paraformer.registry import get_calibrator_class

    assert main(["strategies", "sceua"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("sceua: ")
    header = out.splitlines()[1].split()
    assert header == ["option", "type", "default", "meaning"]
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:] if line.startswith("  ") and line.split()
            and not line.startswith("     ")}
    cls = get_calibrator_class("sceua")
    for key in ["seed", "parameter_space", *cls.default_options]:
        assert key in rows, key
    assert rows["repetitions"][1:3] == ["int", "1000"] and rows["seed"][1:3] == ["int", "0"]
    assert main(["strategies", "--options"]) == 0
    assert "paraformer_z: " in capsys.readouterr().out
    assert main(["strategies", "nope"]) == 1
    assert "unknown strategy 'nope'" in capsys.readouterr().err


def test_vic_adapter_and_spotpy_strategy_options_load_without_torch():
    _, loaded = _run_and_list_modules(["from vic_paraformer.cli.main import main", "main(['strategies', 'sceua'])",
                                       "import vic_paraformer.vic.importer, vic_paraformer.vic.params, "
                                       "vic_paraformer.vic.verify", "import vic_paraformer.evaluation"],
                                      ("torch", "spotpy"))
    assert loaded == {"torch": False, "spotpy": False}


def test_the_options_of_every_strategy_list_without_torch():
    # the DL strategies declare their networks' hyperparameters torch-free (vic_paraformer.dl.networks)
    out, loaded = _run_and_list_modules(["from vic_paraformer.cli.main import main", "main(['strategies', '--options'])",
                                         "main(['strategies', 'paraformer_z', 'paraformer_a', 'ffn_a', 'lstm_z'])"],
                                        ("torch", "spotpy"))
    assert "patch_days" in out and "hidden_size" in out
    assert loaded == {"torch": False, "spotpy": False}


def test_every_option_of_every_installed_strategy_is_documented():
    from vic_paraformer.registry import get_calibrator_class, strategies

    undocumented = {}
    for name in strategies():
        cls = get_calibrator_class(name)
        infos = cls.describe_options()
        assert [i.name for i in infos[:2]] == ["seed", "parameter_space"]
        assert {i.name for i in infos[2:]} == set(cls.default_options)
        missing = [i.name for i in infos if not i.help]
        if missing:
            undocumented[name] = missing
    assert not undocumented, undocumented


def test_output_piped_into_a_reader_that_closes_early_ends_quietly():
    import subprocess
    import sys

    code = ("import sys; from vic_paraformer.cli.main import main; sys.exit(main(['strategies', '--options']))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "unexpected error" not in err and "Traceback" not in err and "BrokenPipe" not in err, err
    assert proc.returncode in (0, 141)
