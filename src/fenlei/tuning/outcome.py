"""How a finished trial is told to the study: its user attributes, its state (complete, pruned,
failed) and its constraints, and whether a trial is within the size and latency limits."""

from __future__ import annotations


def tell(study, trial, outcome: dict, metric: str, say) -> None:
    """Record a trial's end in the study: complete (with its constraint), pruned or failed."""
    import optuna

    for key in ("seconds", "run_dir", "size_mb", "latency_ms", "rejected"):
        if outcome.get(key) is not None:
            trial.set_user_attr(key, outcome[key])
    if "error" in outcome:
        trial.set_user_attr("error", outcome["error"])
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        say(f"  failed: {outcome['error']}")
        return
    m = outcome["metrics"]
    test = (m.get("test") or {}).get(metric)
    if test is not None:
        trial.set_user_attr("test", float(test))
    if outcome["budget_hit"]:
        trial.set_user_attr("error", "stopped by the time budget")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        say("  stopped by the time budget (not counted)")
        return
    if outcome["pruned"]:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        say(f"  pruned after {m['train']['epochs']} epoch(s)")
        return
    value = float(m["dev"][metric])
    for key, excess in outcome.get("excess", {}).items():  # <= 0: within the limit
        trial.set_constraint(key, excess)
    study.tell(trial, value)
    why = f"  rejected: {outcome['rejected']}" if outcome.get("rejected") else ""
    say(f"  dev {metric} {value:.4f}" + (f"  test {test:.4f}" if test is not None else "") + why)


def feasible(trial) -> bool:
    """Within --max-size and --max-latency-ms (Optuna's constraints: <= 0 is feasible)."""
    return all(v <= 0 for v in trial.constraints.values())
