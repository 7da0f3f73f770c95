"""The ``cnnkit`` error boundary: one line per error, documented exit codes, --debug, --version, broken pipes."""
import os
import subprocess
import sys

import pytest

from cnnkit import __version__
from cnnkit import cli, weights
from cnnkit.cli import main
from cnnkit.cli import weights as weights_cli


def test_version_prints_the_package_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"cnnkit {__version__}"


def test_help_documents_every_exit_code(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {code:<4} " in out for code in cli.EXIT_CODES) and "CNNKIT_DEBUG=1" in out


def test_an_error_is_one_line_naming_the_command_and_its_action(capsys):
    assert main(["weights", "path", "nosuch"]) == 1
    assert capsys.readouterr().err == ("cnnkit weights path: error: unknown weights 'nosuch'; known: "
                                       f"{', '.join(sorted(weights.REGISTRY))}\n")


def test_debug_flag_after_the_command_shows_the_traceback():
    with pytest.raises(ValueError, match="unknown weights 'nosuch'"):
        main(["weights", "path", "nosuch", "--debug"])


def test_debug_environment_variable_shows_the_traceback(monkeypatch):
    monkeypatch.setenv("CNNKIT_DEBUG", "1")
    with pytest.raises(ValueError, match="unknown weights 'nosuch'"):
        main(["weights", "path", "nosuch"])


def _failing(exc):
    def handler(args):
        raise exc
    return handler


def test_interruption_exits_130_with_one_line(monkeypatch, capsys):
    monkeypatch.setattr(weights_cli, "_list", _failing(KeyboardInterrupt()))
    assert main(["weights", "list"]) == 130
    assert capsys.readouterr().err == "cnnkit weights list: interrupted\n"


def test_an_unexpected_error_is_one_line_that_points_to_debug(monkeypatch, capsys):
    monkeypatch.setattr(weights_cli, "_list", _failing(IndexError("list index out of range")))
    assert main(["weights", "list"]) == 1
    assert capsys.readouterr().err == ("cnnkit weights list: error: IndexError: list index out of range (an unexpected "
                                       "error: rerun with --debug and report the traceback)\n")


def test_a_missing_file_is_named_without_errno_noise(monkeypatch, capsys):
    monkeypatch.setattr(weights_cli, "_list", _failing(FileNotFoundError(2, "No such file or directory", "x.png")))
    assert main(["weights", "list"]) == 1
    assert capsys.readouterr().err == "cnnkit weights list: error: x.png: No such file or directory\n"


def test_stylize_blend_count_is_reported_with_the_flag(tmp_path, capsys):
    assert main(["stylize", "c.png", "s1.png", "s2.png", "--blend", "1"]) == 1
    assert capsys.readouterr().err == ("cnnkit stylize: error: --blend needs 2 non-negative weights with a positive "
                                       "sum, one per style picture, got 1\n")


def test_a_bad_flag_value_is_a_usage_error_naming_the_flag(capsys):
    assert main(["train", "--batch-size", "0"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == "cnnkit train: error: argument --batch-size: must be at least 1, got 0"


def test_closed_output_pipe_exits_quietly_with_141(tmp_path):
    child = subprocess.Popen([sys.executable, "-m", "cnnkit.cli", "weights", "list"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env={**os.environ, "CNNKIT_HOME": str(tmp_path)})
    child.stdout.close()  # like `| head` having exited before cnnkit writes
    _, err = child.communicate(timeout=120)
    assert (child.returncode, err) == (141, b"")
