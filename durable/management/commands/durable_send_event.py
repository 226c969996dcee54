"""durable_send_event: send a CloudEvent from the shell and report whom it resumed and started."""

from __future__ import annotations

from typing import Any

from durable import client
from durable.management import format as fmt
from durable.management.base import DurableCommand


class Command(DurableCommand):
    help = (
        "Send a CloudEvent to the workflows, as the HTTP receiver would: it resumes the instances waiting "
        "for it (or is kept for their next matching wait) and starts the workflows declared with "
        "on_event=TYPE. Prints the event id and the instances it resumed and started. A repeat of the "
        "same --source and --id is acknowledged as a duplicate and not delivered again. With -v 0 only "
        "the event id is printed."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("event_type", metavar="type", help="The CloudEvents type, e.g. payment.completed.")
        parser.add_argument("--source", required=True, help="The CloudEvents source, e.g. /payments (required).")
        parser.add_argument(
            "--data",
            metavar="JSON",
            help='The event data as JSON, e.g. \'{"order_id": "o-1"}\'; waits match on its fields. Default: none.',
        )
        parser.add_argument("--subject", help="The CloudEvents subject; waits with subject= compare it.")
        parser.add_argument(
            "--id",
            dest="event_id",
            metavar="ID",
            help="The event id; with --source it makes the send idempotent. Default: a new uuid4.",
        )
        parser.add_argument(
            "--instance", dest="instance_id", metavar="ID", help="Deliver to this workflow instance alone."
        )

    def run(self, **options: Any) -> None:
        event_type, source = options["event_type"], options["source"]
        data = fmt.parse_json(options["data"], "--data") if options["data"] is not None else None
        delivery = client.send_event(
            event_type,
            source,
            data,
            subject=options["subject"],
            id=options["event_id"],
            instance_id=options["instance_id"],
        )
        if options["verbosity"] == 0:
            self.stdout.write(delivery.event_id)
        elif delivery.duplicate:
            self.stdout.write(
                self.style.WARNING(
                    f"Event {delivery.event_id} from {source} is a duplicate: it was received before and is not "
                    "delivered again."
                )
            )
        else:
            self.stdout.write(self.style.SUCCESS(f"Sent {event_type} event {delivery.event_id} from {source}."))
            self.stdout.write(f"Resumed: {', '.join(delivery.resumed) or 'none'}")
            self.stdout.write(f"Started: {', '.join(delivery.started) or 'none'}")
            if not delivery.resumed and not delivery.started:
                self.stdout.write("No instance waits for it now; it is kept for their next matching wait.")
