"""Made-up metrics for multitask's criteria: exact match per task, single-task vs multi-task."""

TASKS = {"<translate>": "dates", "<summarize>": "summaries", "<answer>": "coffee-shop"}


def _seed(single=(0.92, 0.93, 0.95), multi=(0.9, 0.88, 0.97)):
    em = lambda accs: {p: {"exact_match": a} for p, a in zip(TASKS, accs)}  # noqa: E731
    return {"tasks": dict(TASKS), "single": em(single), "multi": em(multi)}


def passing():
    return [_seed(), _seed(multi=(0.91, 0.85, 0.96)), _seed(single=(0.9, 0.95, 0.94))]


def failing():
    behind = [_seed(multi=(0.85, 0.8, 0.9)), _seed(multi=(0.88, 0.84, 0.9)), _seed(multi=(0.86, 0.8, 0.92))]
    return {"multitask-on-par": behind}  # mean gap about 0.08 on every seed
