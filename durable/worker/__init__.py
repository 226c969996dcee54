"""The only part of durable that touches django-q2: tasks, the wake-up, schedules, the timer loop."""
