"""The report: the reference results and your runs, one section per course lesson, in English and
Chinese (static HTML), and ``docs/results.md`` generated from the reference results."""

from .html import agreement_text, build_report
from .markdown import REGENERATE, markdown_text, write_markdown
from .sources import agrees, reference_result, reference_results, reference_root

__all__ = [
    "REGENERATE",
    "agreement_text",
    "agrees",
    "build_report",
    "markdown_text",
    "reference_result",
    "reference_results",
    "reference_root",
    "write_markdown",
]
