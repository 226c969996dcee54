"""durable_bench's scenarios: each module runs one against real durable_worker subprocesses."""
