"""Side-effect ledger written by test activities."""

from django.db import models


class Ledger(models.Model):
    instance_id = models.CharField(max_length=200)
    step = models.CharField(max_length=100)
    pid = models.IntegerField(default=0)
    started = models.FloatField(default=0)
    finished = models.FloatField(default=0)

    class Meta:
        indexes = [models.Index(fields=["instance_id", "step"], name="testapp_ledger_step")]

    def __str__(self) -> str:
        return f"{self.instance_id} {self.step}"
