"""durable_export and durable_replay: exports that replay, mismatches named, exit codes, and bad input."""

from __future__ import annotations

import json

import pytest
from django.core.management.base import CommandError

import durable
from durable.models import HistoryStep
from tests import replay_workflows as rw

pytestmark = pytest.mark.django_db


@pytest.fixture
def orders(drain) -> list[str]:
    handles = [durable.start(rw.order, n, instance_id=f"order-{n}") for n in range(3)]
    durable.start(rw.waits, 9, instance_id="waits-9")
    drain()
    return [h.instance_id for h in handles]


def test_export__writes_the_history_to_stdout_and_to_a_file(orders, run, tmp_path):
    out, _ = run("durable_export", "order-1")
    doc = json.loads(out)
    assert (doc["format"], doc["instance_id"], doc["workflow_name"], doc["input"]) == (
        "durable.history",
        "order-1",
        "replay.order",
        {"args": [1], "kwargs": {}},
    )
    assert [(s["kind"], s["name"], s["status"], s["attempt"]) for s in doc["history"]] == [
        ("activity", "replay.reserve", "completed", 1),
        ("activity", "replay.charge", "completed", 1),
        ("now", "now", "completed", 1),
    ]
    assert doc["history"][1]["result"] == 10
    target = tmp_path / "order-1.json"
    _, err = run("durable_export", "order-1", "--output", str(target))
    assert json.loads(target.read_text()) == doc and "order-1.json" in err


def test_export__an_unknown_id_is_a_command_error(run):
    with pytest.raises(CommandError, match="No workflow instance has id 'nobody'"):
        run("durable_export", "nobody")


def test_replay__unchanged_code_matches_and_a_changed_one_is_listed(orders, run, monkeypatch):
    out, _ = run("durable_replay")
    assert "4 match, 0 mismatched" in out and "MISMATCH" not in out
    monkeypatch.setenv(rw.FLIP, "1")
    with pytest.raises(CommandError) as caught:
        run("durable_replay", "--progress", "2")
    assert caught.value.returncode == 1 and "3 instance(s) no longer match" in str(caught.value)


def test_replay__lists_each_mismatch_with_its_step_recorded_and_called(orders, monkeypatch, capsys):
    from django.core.management import call_command

    monkeypatch.setenv(rw.FLIP, "1")
    with pytest.raises(CommandError):
        call_command("durable_replay", "--workflow", "replay.order", "--status", "completed", "--progress", "2")
    out, err = capsys.readouterr()
    for instance_id in orders:
        assert (
            f"MISMATCH  {instance_id}  replay.order: step 1: history has activity 'replay.charge' but the code "
            "called activity 'replay.bill'"
        ) in out
    assert "1 match" not in out and "Replayed 3 instance(s)" in out and "3 mismatched" in out
    assert "2 of 3 replayed" in err


def test_replay__files_replay_without_the_database_s_instances(orders, run, tmp_path, monkeypatch):
    paths = []
    for instance_id in orders[:2]:
        paths.append(str(tmp_path / f"{instance_id}.json"))
        run("durable_export", instance_id, "--output", paths[-1])
    out, _ = run("durable_replay", "--file", *paths)
    assert "Replayed 2 instance(s)" in out and "2 match" in out
    monkeypatch.setenv(rw.FLIP, "1")
    with pytest.raises(CommandError) as caught:
        run("durable_replay", "--file", paths[0])
    assert caught.value.returncode == 1


def test_replay__an_unknown_workflow_is_its_own_line(orders, run, monkeypatch):
    from durable.engine.registry import registry

    monkeypatch.delitem(registry.workflows, "replay.waits")
    with pytest.raises(CommandError) as caught:
        run("durable_replay")
    assert caught.value.returncode == 1
    monkeypatch.delitem(registry.workflows, "replay.order")
    out, _ = run("durable_replay", "--status", "completed")  # ended instances are listed, do not fail
    assert "3 of an unknown workflow" in out and "UNKNOWN WORKFLOW  order-0  replay.order" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{broken", "is not valid JSON"),
        ('{"name": "not an export"}', "is not a durable history export"),
        ("[1, 2]", "is not a durable history export"),
        (None, "no such file"),
    ],
)
def test_replay__a_bad_file_is_named_and_nothing_is_replayed(orders, run, tmp_path, content, message):
    good = tmp_path / "good.json"
    run("durable_export", "order-0", "--output", str(good))
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    rows = HistoryStep.objects.count()
    with pytest.raises(CommandError, match=message) as caught:
        run("durable_replay", "--file", str(good), str(bad))
    assert caught.value.returncode == 2 and str(bad) in str(caught.value)
    assert HistoryStep.objects.count() == rows


def test_replay__an_unknown_status_is_refused(run):
    with pytest.raises(CommandError, match="status must be one") as caught:
        run("durable_replay", "--status", "sleeping")
    assert caught.value.returncode == 2


@pytest.mark.django_db(transaction=True)
def test_replay__exit_codes_of_the_real_command(orders, manage):
    done = manage("durable_replay", "--status", "active")
    assert done.returncode == 0, done.stderr
    assert "Replayed 1 instance(s)" in done.stdout
    done = manage("durable_replay", "--file", "/nonexistent/history.json")
    assert done.returncode == 2 and "/nonexistent/history.json: no such file" in done.stderr


def test_replay__a_history_the_code_cannot_read_fails_the_check_and_the_others_are_checked(orders, tmp_path, capsys):
    from django.core.management import call_command

    path, good = tmp_path / "bad.json", tmp_path / "good.json"
    call_command("durable_export", "order-1", "--output", str(good))
    call_command("durable_export", "order-0", "--output", str(path))
    doc = json.loads(path.read_text())
    doc["input"] = {"args": [{"$t": "datetime", "v": "not a date"}], "kwargs": {}}
    path.write_text(json.dumps(doc))
    with pytest.raises(CommandError):
        call_command("durable_replay", "--file", str(path), str(good))
    out = capsys.readouterr().out
    assert "MISMATCH  order-0  replay.order: the check could not replay it: ValueError" in out
    assert "Replayed 2 instance(s)" in out and "1 match, 1 mismatched" in out


def test_replay__an_export_with_a_malformed_input_is_refused(orders, run, tmp_path):
    path = tmp_path / "input.json"
    run("durable_export", "order-0", "--output", str(path))
    doc = json.loads(path.read_text())
    doc["input"] = {"args": "nope"}
    path.write_text(json.dumps(doc))
    with pytest.raises(CommandError, match="'input' must be an object") as caught:
        run("durable_replay", "--file", str(path))
    assert caught.value.returncode == 2
