"""durable_export: one instance's history as JSON, for `durable_replay --file` and `durable.testing.replay`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from durable import replay_export
from durable.management.base import DurableCommand


class Command(DurableCommand):
    help = (
        "Write an instance's recorded history as JSON (instance id, workflow, input, status and every step: "
        "position, kind, name, status, attempt, result or error), marked as a durable history export. "
        "Replay it against new code with `durable_replay --file FILE` or durable.testing.replay(FILE)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("instance_id", metavar="ID", help="The workflow instance id.")
        parser.add_argument("--output", "-o", metavar="FILE", help="Write to FILE instead of standard output.")

    def run(self, **options: Any) -> None:
        text = json.dumps(replay_export.export(options["instance_id"]), indent=2, sort_keys=True, ensure_ascii=False)
        output = options["output"]
        if not output:
            self.stdout.write(text)
            return
        try:
            Path(output).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot write {output}: {exc}.") from exc
        self.stderr.write(f"Wrote the history of {options['instance_id']} to {output}.")
