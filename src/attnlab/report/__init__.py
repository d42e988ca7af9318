"""The HTML report: one section per course lesson, in English and Chinese, static files only."""

from .html import build_report

__all__ = ["build_report"]
