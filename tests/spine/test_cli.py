"""The CLI commands that write data, and the exit code of an unexpected failure."""

from typer.testing import CliRunner

from spine.cli import app


def test_synth_writes_sources_and_truth(tmp_path):
    result = CliRunner().invoke(app, ["synth", "--persons", "300", "--seed", "5", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "register.csv").exists() and (tmp_path / "truth" / "events.csv").exists()
    assert "truth:" in result.output


def test_synth_bad_format_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(app, ["synth", "--persons", "300", "--out", str(tmp_path), "--format", "xlsx"])
    assert result.exit_code == 2
    assert "xlsx" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "register.csv").exists()


def test_febrl_writes_both_files_and_true_links(tmp_path):
    result = CliRunner().invoke(app, ["febrl", "--out", str(tmp_path)])
    assert result.exit_code == 0
    lines = (tmp_path / "true_links.csv").read_text().splitlines()
    assert lines[0] == "rec_id_a,rec_id_b" and len(lines) == 5001
    assert len((tmp_path / "febrl4a.csv").read_text().splitlines()) == 5001


def test_version_and_debug_anywhere_on_the_command_line(tmp_path):
    """`spine --version`; `--debug` after the command (as users write it) shows the traceback."""
    import subprocess
    import sys
    from importlib.metadata import version
    from pathlib import Path

    from tests.reliability.helpers import small_job

    spine = str(Path(sys.executable).with_name("spine"))
    shown = subprocess.run([spine, "--version"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and version("migration-spine") in shown.stdout
    job = small_job(tmp_path, sources__tax__record_id="ID")
    quiet = subprocess.run([spine, "validate", str(job)], capture_output=True, text=True, timeout=60)
    debug = subprocess.run([spine, "validate", str(job), "--debug"], capture_output=True, text=True, timeout=60)
    assert quiet.returncode == 2 and "Traceback" not in quiet.stderr
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "sources.tax.record_id" in debug.stderr


def test_every_command_shows_an_example_of_itself_in_its_help():
    import typer.main

    root = typer.main.get_command(app)
    commands = [(name,) for name in root.commands if name != "review"] + [("review", n) for n in ("export", "import")]
    for path in commands:
        result = CliRunner().invoke(app, [*path, "--help"], terminal_width=200)
        assert result.exit_code == 0, path
        shown = " ".join(result.output.split())
        assert f"Example: spine {' '.join(path)} " in shown, path
        example = shown.split("Example: spine ", 1)[1].split(" > ")[0].split()
        command = root
        for word in path:
            command = command.commands[word]
        # the example's options are the command's own
        names = {opt for p in command.params for opt in getattr(p, "opts", [])}
        assert {w for w in example if w.startswith("--")} <= names | {"--log-level"}, (path, example)


def test_tables_prints_the_stores_data_dictionary():
    result = CliRunner().invoke(app, ["tables"])
    assert result.exit_code == 0
    assert "| `rules__silence_estimates` | rules | explains |" in result.output
    assert "| `raw__{source}` | load | working |" in result.output
