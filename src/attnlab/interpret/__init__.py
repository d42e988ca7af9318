"""Seeing attention: heatmaps with Chinese and English tokens, rollout and flow, faithfulness.

Pure analysis: every function takes a model and tensors. Running a named model on a text for a viewer
(``inspect_text``, ``Inspection``, ``list_models``) is application code, in :mod:`attnlab.app`.
"""

from .faithfulness import (
    Explainee,
    explain_classifier,
    explain_seq2seq,
    importance_correlation,
    jsd,
    kendall_tau,
    override_attention,
    permutation_test,
    permuted_weights,
    tvd,
    uniform_test,
    uniform_weights,
)
from .fonts import cjk_font_path, has_glyphs
from .heatmap import plot_attention
from .importance import attention_importance, gradient_importance, leave_one_out, rollout_importance
from .rollout import attention_flow, attention_rollout

__all__ = [
    "Explainee",
    "attention_importance",
    "explain_classifier",
    "explain_seq2seq",
    "gradient_importance",
    "importance_correlation",
    "jsd",
    "kendall_tau",
    "leave_one_out",
    "override_attention",
    "permutation_test",
    "permuted_weights",
    "rollout_importance",
    "tvd",
    "uniform_test",
    "uniform_weights",
    "attention_flow",
    "attention_rollout",
    "cjk_font_path",
    "has_glyphs",
    "plot_attention",
]
