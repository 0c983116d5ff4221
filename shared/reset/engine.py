"""Carries out a reset plan against Graph and verifies the result.

What makes this more than a loop over DELETE calls:

- Graph refuses to delete the default method while others remain (and to delete a mobile phone
  while an alternate mobile remains), and v1.0 cannot say which method is the default. Deletions
  Graph refuses with 400 are therefore retried after the others, round after round, for as long as
  a round makes progress - the approach of Microsoft's own reset cmdlet, generalised.
- A 404 means the method is already gone: the goal, not a failure.
- When Graph stays throttled or unavailable after the SDK's retries, later writes are not tried
  (they would fail the same way, slowly); the outcome lists what was done and what remains.
- Success is decided by listing the methods again, not by trusting the 204s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from pydantic import SecretStr

from shared.clock import Clock, utc_now
from shared.graph.contract import Gateway, GraphError
from shared.guards import DEFAULT_POLICY, TargetPolicy, check_account
from shared.models import (
    IssuedTemporaryAccessPass,
    Outcome,
    OutcomeStatus,
    RegisteredMethod,
    ResetRequest,
    Step,
    StepAction,
    StepResult,
    UserRef,
)
from shared.reset import plan as plans
from shared.reset.plan import Plan, build_plan, check_tap_policy, with_disabled_note
from shared.reset.reads import ResetReads

log = logging.getLogger(__name__)

Progress = Callable[[Outcome], Awaitable[None]]
_FINISHED = (StepResult.done, StepResult.already_absent)


async def _no_progress(outcome: Outcome) -> None:
    return None


class ResetEngine:
    def __init__(
        self,
        gateway: Gateway,
        clock: Clock = utc_now,
        *,
        policy: TargetPolicy = DEFAULT_POLICY,
    ) -> None:
        self._graph = gateway
        self._clock = clock
        self._policy = policy

    async def run(
        self,
        request: ResetRequest,
        reset_id: str,
        *,
        prior: Outcome | None = None,
        on_progress: Progress = _no_progress,
        reuse_tenant_reads: bool = False,
        reads: ResetReads | None = None,
        user_id: str | None = None,
    ) -> Outcome:
        """Reset one user's MFA, or for a dry run only say how.

        ``prior`` is what an earlier, interrupted attempt recorded: its finished steps are kept
        and not repeated, and what it added (the new phone, the pass) is not taken for an old
        method to delete. ``on_progress`` is awaited after every round of Graph calls so the
        caller can record it; an exception from it stops the run (another worker has taken the
        reset over). ``reuse_tenant_reads`` lets a sweep's resets share the protection check's
        tenant-wide reads. ``reads`` are the reads admission already started; otherwise they
        start here, by ``user_id`` (the object id admission resolved) when it is known.

        Raises ``UserNotFoundError`` or ``GraphError`` when the user cannot be resolved, and
        ``TargetProtectedError`` for a protected account (nothing has been done then);
        ``PlanConflictError`` when the request cannot work on this user
        (nothing has been done either). Every later failure is reported inside the outcome.
        """
        own = reads is None
        if reads is None:
            reads = ResetReads(
                self._graph,
                user_id or request.user,
                self._policy,
                reuse_tenant_reads=reuse_tenant_reads,
                tap_policy=request.temporary_access_pass is not None,
            )
        try:
            return await self._run(request, reset_id, reads, prior, on_progress)
        finally:
            if own:
                await reads.close()

    async def _run(
        self,
        request: ResetRequest,
        reset_id: str,
        reads: ResetReads,
        prior: Outcome | None,
        on_progress: Progress,
    ) -> Outcome:
        started = prior.started_at if prior else self._clock()
        user = await reads.user()
        check_account(user, self._policy)
        paths = await reads.paths()
        await paths.check(self._graph, self._policy)
        if request.temporary_access_pass is not None and not user.is_guest:
            # Graph would refuse the pass only after every method is gone: ask the policy first.
            tap_policy = await reads.tap_policy(self._graph)
            groups = {g.id for g in paths.member_of}
            check_tap_policy(request.temporary_access_pass, tap_policy, groups)
        outcome = Outcome(
            id=reset_id,
            status=OutcomeStatus.failed,
            user=UserRef(id=user.id, user_principal_name=user.user_principal_name),
            ticket_id=request.ticket_id,
            dry_run=request.dry_run,
            started_at=started,
            steps=[s for s in (prior.steps if prior else []) if s.result in _FINISHED],
            sessions_revoked_at=prior.sessions_revoked_at if prior else None,
        )
        carried = list(outcome.steps)
        added = {
            s.method_id
            for s in carried
            if s.action is not StepAction.delete_method and s.method_id is not None
        }
        try:
            before = [m for m in await reads.methods() if m.id not in added]
        except GraphError as exc:
            outcome.detail = f"could not list the user's methods: {exc}"
            outcome.retryable = exc.transient
            outcome.finished_at = self._clock()
            return outcome
        plan = build_plan(
            plans.planned_request(request), before, user.is_guest, self._graph.removable_types
        )
        outcome.steps = _merge(carried, plan.steps())
        if request.dry_run:
            outcome.status = OutcomeStatus.planned
            outcome.remaining_methods = before
            outcome.remaining_methods_verified = True
        else:
            run = _Run(self._graph, self._clock, plan, outcome, added, on_progress)
            await run.execute()
        if user.account_enabled is False:  # done as asked, but the user cannot use it yet
            outcome.detail = with_disabled_note(outcome.detail)
        outcome.finished_at = self._clock()
        return outcome


def _merge(carried: list[Step], planned: list[Step]) -> list[Step]:
    """An earlier attempt's finished steps, then what is still to do, in plan order."""
    planned_ids = {s.method_id for s in planned if s.method_id}
    deletions = [s for s in carried if s.action is StepAction.delete_method]
    done: dict[StepAction, Step] = {s.action: s for s in carried if s not in deletions}
    steps = [s for s in deletions if s.method_id not in planned_ids]
    return steps + [done.get(step.action, step) for step in planned]


class _Run:
    """The state of one reset while it runs."""

    def __init__(
        self,
        graph: Gateway,
        clock: Clock,
        plan: Plan,
        outcome: Outcome,
        added_ids: set[str],
        on_progress: Progress,
    ) -> None:
        self.graph = graph
        self.clock = clock
        self.plan = plan
        self.outcome = outcome
        self.user_id = outcome.user.id
        self.unavailable: GraphError | None = None  # set once Graph stays throttled/down
        self.added_ids = set(added_ids)  # what this reset registered, in any attempt
        self.on_progress = on_progress

    def _log(self, step: Step) -> None:
        log.info(
            "reset step %s %s: %s",
            step.action,
            step.method_type or "",
            step.result,
            extra={
                "reset_id": self.outcome.id,
                "ticket_id": self.outcome.ticket_id,
                "user_id": self.user_id,
                "action": str(step.action),
                "method_type": str(step.method_type or ""),
                "method_id": step.method_id or "",
                "result": str(step.result),
                "graph_status": step.error.status if step.error else None,
                "graph_code": step.error.code if step.error else None,
                "graph_request_id": step.error.request_id if step.error else step.request_id,
            },
        )

    def _fail(self, step: Step, exc: GraphError) -> None:
        step.result = StepResult.failed
        step.error = exc.info()
        if exc.transient:
            self.unavailable = exc

    def _skip_if_unavailable(self, step: Step) -> bool:
        if self.unavailable is None:
            return False
        step.result = StepResult.skipped
        step.detail = f"not attempted: Graph stayed unavailable ({self.unavailable.code})"
        self._log(step)
        return True

    async def execute(self) -> None:
        """The rounds: every deletion and the revocation at once; again what Graph refused
        while others remained, for as long as that makes progress; the new phone and the pass;
        then a listing to verify. Each round is recorded once it has ended."""
        by_id = {m.id: m for m in self.plan.deletions}
        to_do = [s for s in self.outcome.steps if s.result is StepResult.planned]
        revoke = [self._revoke(s) for s in to_do if s.action is StepAction.revoke_sessions]
        await self._delete_all(
            [s for s in to_do if s.action is StepAction.delete_method and s.method_id in by_id],
            by_id,
            alongside=revoke,
        )
        additions = {
            StepAction.add_phone: self._add_phone,
            StepAction.create_temporary_access_pass: self._issue_tap,
        }
        adding = [additions[s.action](s) for s in to_do if s.action in additions]
        if adding:
            await asyncio.gather(*adding)
            await self.on_progress(self.outcome)
        await self._verify(by_id)

    async def _delete_all(
        self,
        steps: list[Step],
        by_id: dict[str, RegisteredMethod],
        alongside: list[Coroutine[Any, Any, None]],
    ) -> None:
        pending = steps
        first_round = True
        while pending or alongside:
            results = await asyncio.gather(
                *(self._delete(step, by_id, first_round) for step in pending), *alongside
            )
            refused = [
                step for step, was_refused in zip(pending, results, strict=False) if was_refused
            ]
            alongside = []
            await self.on_progress(self.outcome)
            first_round = False
            if not refused:
                break
            if len(refused) == len(pending):
                # No progress this round: what is left cannot be deleted while the rest remains.
                for step in refused:
                    if step.detail and self.plan.kept:
                        step.detail += self.plan.kept_note()
                    self._log(step)
                break
            pending = refused

    async def _delete(
        self, step: Step, by_id: dict[str, RegisteredMethod], first_round: bool
    ) -> bool:
        """One deletion; True when Graph refused it while others remained (next round)."""
        if self._skip_if_unavailable(step):
            return False
        method = by_id[step.method_id or ""]
        try:
            step.request_id = await self.graph.delete_method(self.user_id, method)
        except GraphError as exc:
            if exc.not_found:
                step.result, step.error = StepResult.already_absent, None
            elif exc.status == 400:
                # Default method, or mobile before alternate: try again after the others.
                self._fail(step, exc)
                if exc.default_method_refusal:
                    step.detail = "Graph refused: it is the user's default method"
                return True
            else:
                self._fail(step, exc)
        else:
            step.result, step.error = StepResult.done, None
            step.detail = plans.done_detail(method, first_round)
        self._log(step)
        return False

    async def _revoke(self, step: Step) -> None:
        if self._skip_if_unavailable(step):
            return
        try:
            step.request_id = await self.graph.revoke_sessions(self.user_id)
        except GraphError as exc:
            self._fail(step, exc)
        else:
            step.result = StepResult.done
            self.outcome.sessions_revoked_at = self.clock()
        self._log(step)

    async def _add_phone(self, step: Step) -> None:
        new_phone = self.plan.new_phone
        assert new_phone is not None
        if self._skip_if_unavailable(step):
            return
        try:
            created = await self.graph.add_phone(self.user_id, new_phone.number, new_phone.type)
        except GraphError as exc:
            self._fail(step, exc)
        else:
            step.result, step.method_id = StepResult.done, created.id
            step.request_id = created.request_id
            self.added_ids.add(created.id)
        self._log(step)

    async def _issue_tap(self, step: Step) -> None:
        wanted = self.plan.temporary_access_pass
        assert wanted is not None
        if self._skip_if_unavailable(step):
            return
        try:
            tap = await self.graph.create_temporary_access_pass(
                self.user_id, wanted.lifetime_minutes, wanted.usable_once
            )
        except GraphError as exc:
            self._fail(step, exc)
        else:
            step.result, step.method_id = StepResult.done, tap.id
            step.request_id = tap.request_id
            self.added_ids.add(tap.id)
            self.outcome.temporary_access_pass = IssuedTemporaryAccessPass(
                value=SecretStr(tap.value),
                lifetime_minutes=tap.lifetime_minutes,
                usable_once=tap.usable_once,
                starts_at=tap.starts_at,
            )
        self._log(step)

    async def _verify(self, by_id: dict[str, RegisteredMethod]) -> None:
        outcome = self.outcome
        try:
            after = await self.graph.list_methods(self.user_id)
        except GraphError as exc:
            gone = {s.method_id for s in outcome.steps if s.result in _FINISHED}
            known = (*self.plan.deletions, *self.plan.kept)
            outcome.remaining_methods = [m for m in known if m.id not in gone]
            outcome.remaining_methods_verified = False
            outcome.status = OutcomeStatus.failed
            outcome.retryable = exc.transient
            outcome.detail = f"could not list the methods again to verify the reset: {exc}"
            return
        outcome.remaining_methods = after
        outcome.remaining_methods_verified = True
        still_there = {m.id for m in after} - self.added_ids
        leftovers = [m for m in by_id.values() if m.id in still_there]
        for step in outcome.steps:
            if (
                step.action is StepAction.delete_method
                and step.result is StepResult.failed
                and step.method_id in by_id
                and step.method_id not in still_there
            ):
                step.result = StepResult.done
                step.detail = "Graph answered with an error, but the method is gone (verified)"
        # A step skipped by the plan (revoking a guest) was never due; one skipped at run time
        # follows a failure, which fails the reset already.
        unfinished = [
            s
            for s in outcome.steps
            if s.action is not StepAction.delete_method
            and s.result not in (StepResult.done, StepResult.skipped)
        ]
        if not leftovers and not unfinished:
            outcome.status = OutcomeStatus.succeeded
            return
        outcome.status = OutcomeStatus.failed
        outcome.retryable = self.unavailable is not None
        reasons = []
        if leftovers:
            reasons.append(f"{len(leftovers)} selected method(s) remain")
        if unfinished:
            reasons.append("not done: " + ", ".join(str(s.action) for s in unfinished))
        outcome.detail = "; ".join(reasons)
