"""Audit policies, runs and their results: every write of the audits app goes through here.

`policies` holds what to check and when, `runs` the run state machine (request, claim,
execute, finish, recover, notify), `proposals` the PII proposals scans make. Callers use the
names below: `from audits import services; services.audit_run_request(...)`.
"""

from audits.services.policies import (
    audit_policy_create,
    audit_policy_datasets,
    audit_policy_delete,
    audit_policy_schedule_sync,
    audit_policy_update,
)
from audits.services.proposals import pii_proposal_decide
from audits.services.runs import (
    RunAborted,
    audit_policy_fire,
    audit_run_claim,
    audit_run_execute,
    audit_run_fail,
    audit_run_notify,
    audit_run_reproduce,
    audit_run_request,
    audit_runs_recover,
    error_results_for,
)

__all__ = [
    "RunAborted",
    "audit_policy_create",
    "audit_policy_datasets",
    "audit_policy_delete",
    "audit_policy_fire",
    "audit_policy_schedule_sync",
    "audit_policy_update",
    "audit_run_claim",
    "audit_run_execute",
    "audit_run_fail",
    "audit_run_notify",
    "audit_run_reproduce",
    "audit_run_request",
    "audit_runs_recover",
    "error_results_for",
    "pii_proposal_decide",
]
