"""``attnlab eval | translate | generate | classify CKPT``: use a trained checkpoint.

A checkpoint folder (or a run folder: its newest checkpoint is used) holds ``config.json`` and
``model.safetensors`` (the model), and ``recipe.json`` (task, tokenizer, labels). Nothing is unpickled.
"""

from __future__ import annotations

import argparse
import json

import torch

FAMILY_COMMAND = {"seq2seq": "translate", "lm": "generate", "classify": "classify"}


def load(path: str):
    """``(recipe, model, folder)`` for a checkpoint, run or ``best/`` folder."""
    from attnlab.models import load_model
    from attnlab.training import resolve_checkpoint

    from .recipes import Recipe

    folder = resolve_checkpoint(path)
    recipe = Recipe.load(folder)
    model = load_model(folder)
    model.eval()
    return recipe, model, folder


def _require(recipe, command: str) -> None:
    wanted = FAMILY_COMMAND[recipe.family]
    if wanted != command:
        raise ValueError(
            f"checkpoint: a {recipe.model} trained on {recipe.task} is used with "
            f"'attnlab {wanted}', not 'attnlab {command}'"
        )


def cmd_eval(args: argparse.Namespace) -> int:
    recipe, model, folder = load(args.checkpoint)
    metrics = recipe.evaluate(model, n=args.n, split=args.split)
    print(
        json.dumps(
            {
                "checkpoint": str(folder),
                "task": recipe.task,
                "split": args.split,
                "n": args.n,
                **{k: round(v, 6) for k, v in metrics.items()},
            },
            ensure_ascii=False,
        )
    )
    return 0


def cmd_translate(args: argparse.Namespace) -> int:
    recipe, model, _ = load(args.checkpoint)
    _require(recipe, "translate")
    for text, answer in zip(args.text, recipe.predict(model, args.text, max_new=args.max_len)):
        print(f"{text}\t{answer}")
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    from attnlab.data.batching import pad_batch

    recipe, model, _ = load(args.checkpoint)
    _require(recipe, "classify")
    batch = pad_batch([recipe.tokenizer.encode(t) for t in args.text], recipe.tokenizer.pad_id)
    with torch.no_grad():
        probs = torch.softmax(model(batch.ids, batch.lengths)[0], dim=-1)
    for text, row in zip(args.text, probs):
        top = row.topk(min(3, row.numel()))
        ranked = ", ".join(
            f"{recipe.labels[i]} {p:.2f}" for p, i in zip(top.values.tolist(), top.indices.tolist())
        )
        print(f"{text}\t{recipe.labels[int(top.indices[0])]}\t({ranked})")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    recipe, model, _ = load(args.checkpoint)
    _require(recipe, "generate")
    tok = recipe.tokenizer
    prompt = torch.tensor([[tok.bos_id] + tok.encode(args.prompt)])
    gen = torch.Generator().manual_seed(args.seed)
    with torch.no_grad():
        out = model.generate(
            prompt,
            args.max_new,
            temperature=args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
            generator=gen,
            eos_id=tok.eos_id,
        )
    print(args.prompt + tok.decode(out[0, prompt.shape[1] :].tolist()))
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a checkpoint on held-out examples of its task")
    p.add_argument("checkpoint", help="checkpoint, best/ or run folder")
    p.add_argument("-n", type=int, default=200, help="examples (default 200)")
    p.add_argument("--split", default="test", choices=["valid", "test"])
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("translate", help="seq2seq checkpoint: map each text to its output")
    p.add_argument("checkpoint", help="checkpoint, best/ or run folder of a seq2seq model (attnlab train)")
    p.add_argument(
        "text", nargs="+", help="one or more texts to translate (quote each), one output line each"
    )
    p.add_argument("--max-len", type=int, default=64, help="longest output in tokens (default 64)")
    p.set_defaults(func=cmd_translate)

    p = sub.add_parser("classify", help="classifier checkpoint: label each text (top-3 probabilities)")
    p.add_argument("checkpoint", help="checkpoint, best/ or run folder of a classifier (attnlab train)")
    p.add_argument("text", nargs="+", help="one or more texts to label (quote each), one output line each")
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("generate", help="language-model checkpoint: continue a prompt")
    p.add_argument("checkpoint", help="checkpoint, best/ or run folder of a language model (attnlab train)")
    p.add_argument("--prompt", required=True, help="the text to continue")
    p.add_argument("--max-new", type=int, default=32, help="new tokens at most (default 32)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--top-k", type=int, default=None, help="sample among the k likeliest tokens")
    p.add_argument("--top-p", type=float, default=None, help="sample among the likeliest tokens of mass p")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling (default 0)")
    p.set_defaults(func=cmd_generate)
