"""Every durable_* command explains itself and each of its arguments in --help."""

from __future__ import annotations

import pytest
from django.core.management import load_command_class

COMMANDS = [
    "durable_start",
    "durable_send_event",
    "durable_cancel",
    "durable_pause",
    "durable_resume",
    "durable_retry",
    "durable_list",
    "durable_show",
    "durable_sweep",
    "durable_worker",
]
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


@pytest.mark.parametrize("name", COMMANDS)
def test_help__the_command_and_every_argument_have_help(name):
    command = load_command_class("durable", name)
    parser = command.create_parser("manage.py", name)
    assert len(command.help) > 60
    own = [action for action in parser._actions if action.dest not in DJANGO_OPTIONS]
    assert own or name == "durable_sweep"
    for action in own:
        assert action.help and len(action.help) > 15, f"{name} {action.dest} has no help"
    assert command.help.split()[0] in parser.format_help()


def test_help__shell_prints_the_help_and_exits_0(manage):
    done = manage("durable_start", "--help")
    assert done.returncode == 0, done.stderr
    assert "usage: manage.py durable_start" in done.stdout
    assert "a list is the" in done.stdout and "--timeout SECONDS" in done.stdout
