"""Every durable_* command, the app's and the demo project's, explains itself and each argument in --help."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import find_commands, get_commands, load_command_class

import durable.management

COMMANDS = [
    "durable_start",
    "durable_send_event",
    "durable_cancel",
    "durable_pause",
    "durable_resume",
    "durable_retry",
    "durable_list",
    "durable_show",
    "durable_erase",
    "durable_fork",
    "durable_status",
    "durable_sweep",
    "durable_worker",
    "durable_schedules",
    "durable_schedule",
    "durable_queues",
    "durable_purge",
    "durable_export",
    "durable_replay",
]
# The demo project's own commands (project/management/commands/), not in the wheel.
PROJECT_COMMANDS = ["durable_bench", "durable_demo"]
DJANGO_OPTIONS = {
    "help",
    "version",
    "verbosity",
    "settings",
    "pythonpath",
    "traceback",
    "no_color",
    "force_color",
    "skip_checks",
}


def test_help__the_app_ships_the_durable_commands_and_the_demo_project_its_own():
    shipped = find_commands(str(Path(durable.management.__file__).parent))
    assert sorted(shipped) == sorted(COMMANDS), "a new command of the app needs its --help test here"
    owners = get_commands()
    assert {name: owners[name] for name in PROJECT_COMMANDS} == dict.fromkeys(PROJECT_COMMANDS, "project")


@pytest.mark.parametrize(
    ("app", "name"), [("durable", name) for name in COMMANDS] + [("project", name) for name in PROJECT_COMMANDS]
)
def test_help__the_command_and_every_argument_have_help(app, name):
    command = load_command_class(app, name)
    parser = command.create_parser("manage.py", name)
    assert len(command.help) > 60
    own = [action for action in parser._actions if action.dest not in DJANGO_OPTIONS]
    assert own or name in ("durable_sweep", "durable_schedules", "durable_queues")
    for action in own:
        assert action.help and len(action.help) > 15, f"{name} {action.dest} has no help"
    assert command.help.split()[0] in parser.format_help()


def test_help__shell_prints_the_help_and_exits_0(manage):
    done = manage("durable_start", "--help")
    assert done.returncode == 0, done.stderr
    assert "usage: manage.py durable_start" in done.stdout
    assert "a list is the" in done.stdout and "--timeout SECONDS" in done.stdout
