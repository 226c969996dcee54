"""The permissions that guard durable's operations, named once for models, admin, API and transitions."""

from __future__ import annotations

APP = "durable"

# (codename, description) of WorkflowInstance's own permissions, one per operation.
OPERATIONS = {
    "cancel": ("cancel_workflowinstance", "Can cancel workflow instances"),
    "pause": ("pause_workflowinstance", "Can pause workflow instances"),
    "resume": ("resume_workflowinstance", "Can resume workflow instances"),
    "retry": ("retry_workflowinstance", "Can retry failed workflow instances"),
}
# Erasing an instance's data (SPEC 16) is no status transition, so it stands beside OPERATIONS.
ERASE_INSTANCE = ("erase_workflowinstance", "Can erase workflow instances' data")
# (codename, description) of Schedule's own permissions; adding, changing and deleting a runtime
# schedule take Django's add/change/delete_schedule.
SCHEDULE_OPERATIONS = {
    "pause": ("pause_schedule", "Can pause schedules"),
    "resume": ("resume_schedule", "Can resume schedules"),
    "trigger": ("trigger_schedule", "Can trigger a run of a schedule now"),
}
VIEW_SCHEDULE = "view_schedule"
# (codename, description) of HookRun's own permission: make a failing hook due now.
RETRY_HOOK = ("retry_hookrun", "Can retry a hook run now")
# Django's default model permissions that the viewer and the API rely on.
VIEW_INSTANCE = "view_workflowinstance"
START_INSTANCE = "add_workflowinstance"
SEND_EVENT = "add_event"


def qualified(codename: str) -> str:
    """ "durable.<codename>", as `User.has_perm` takes it."""
    return f"{APP}.{codename}"
