"""``mailfax retry JOB...``: try failed, cancelled or waiting jobs again now; a job scheduled
with ``mailfax send --at`` is sent now (its schedule is dropped)."""

from __future__ import annotations

from mailfax.commands._common import act_on_jobs, add_jobs_argument

NAME = "retry"
HELP = "retry fax jobs now (scheduled ones: send now)"
add_arguments = add_jobs_argument


def run(args) -> int:
    return act_on_jobs(args, "retry", "will be retried")
