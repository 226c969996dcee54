"""durable_demo: run the demo project's example workflows on a real worker and server."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from project import demo


class Command(BaseCommand):
    help = (
        "Run the demo: migrate, create an admin user (admin/admin) if there is none, start a worker "
        "(durable_worker) and a server (runserver), run every example workflow of project/workflows.py "
        "with its events sent over HTTP as CloudEvents, then keep the admin up until Ctrl-C."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--exit",
            action="store_true",
            help="Stop after the patterns; the exit status is 0 only if every one behaved as expected.",
        )
        parser.add_argument(
            "--port",
            type=int,
            default=None,
            help="The server's port (default: 8000, or a free one when 8000 is taken; 0: any free port).",
        )

    def handle(self, *args, **options) -> None:
        problems = demo.run(self.stdout, self.style, port=options["port"], exit_after=options["exit"])
        if problems:
            raise CommandError(f"the demo found {len(problems)} problem(s):\n" + "\n".join(f"- {p}" for p in problems))
