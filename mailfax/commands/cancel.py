"""``mailfax cancel JOB...``: cancel jobs that have not ended (a call in progress is hung up)."""

from __future__ import annotations

from mailfax.commands._common import act_on_jobs, add_jobs_argument

NAME = "cancel"
HELP = "cancel fax jobs"
add_arguments = add_jobs_argument


def run(args) -> int:
    return act_on_jobs(args, "cancel", "cancelled")
