"""durable_schedule: pause, resume, trigger or delete one cron schedule by name."""

from __future__ import annotations

from typing import Any

from durable import schedules
from durable.management.base import DurableCommand

ACTIONS = ("pause", "resume", "trigger", "delete")


class Command(DurableCommand):
    help = (
        "Act on a cron schedule: pause (no slot fires), resume (fires from the next slot after now), "
        "trigger (one run now; prints its instance id) or delete (its runs stay). Fails for an unknown name."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=ACTIONS, help="What to do: pause, resume, trigger or delete.")
        parser.add_argument("name", metavar="NAME", help="The schedule's name (see durable_schedules).")

    def run(self, **options: Any) -> None:
        action, name = options["action"], options["name"]
        if action == "trigger":
            instance_id = schedules.trigger(name)
            self.stdout.write(self.style.SUCCESS(f"Schedule {name} triggered: instance {instance_id}."))
        elif action == "delete":
            schedules.delete(name)
            self.stdout.write(self.style.SUCCESS(f"Schedule {name} deleted; its runs are kept."))
        else:
            row = getattr(schedules, action)(name)
            self.stdout.write(self.style.SUCCESS(f"Schedule {name} is now {'paused' if row.paused else 'active'}."))
