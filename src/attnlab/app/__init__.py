"""The application layer: the library wired into commands, the web explorer and the report.

- ``recipes``: :class:`Recipe` (a data task meets a model family: tokenizer, batches, loss,
  evaluation, predictions) and :class:`RecipeTask` (a recipe as the trainer's task);
- ``train``: ``attnlab train``; ``inference``: ``attnlab eval | translate | classify | generate``;
- ``data_commands``: ``attnlab data``; ``listing``: ``attnlab list``;
- ``demo_models``: the built-in models of ``show`` / ``serve``, trained once on first use;
- ``inspect``: :func:`inspect_text` runs a text through a named model and returns an
  :class:`Inspection` (tokens, attention maps, output); ``show``: ``attnlab show``.

Imports go downward only: this package uses ``training``, ``interpret``, ``data`` and ``models``;
``experiments``, ``report``, ``serve`` and ``cli`` use it. See docs/training.md and docs/serve.md.
"""

from .demo_models import DEMO_MODELS, DemoModel, demo_folder, ensure_demo
from .errors import UsageError
from .inspect import Inspection, ModelStore, check_text, find_checkpoints, inspect_text, list_models
from .recipes import FAMILIES, RECIPE_FILE, Recipe, RecipeTask, as_text
from .show import render, show

__all__ = [
    "DEMO_MODELS",
    "FAMILIES",
    "RECIPE_FILE",
    "DemoModel",
    "Inspection",
    "ModelStore",
    "Recipe",
    "RecipeTask",
    "UsageError",
    "as_text",
    "check_text",
    "demo_folder",
    "ensure_demo",
    "find_checkpoints",
    "inspect_text",
    "list_models",
    "render",
    "show",
]
