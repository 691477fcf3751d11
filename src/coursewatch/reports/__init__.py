"""Renderings of an :class:`~coursewatch.analysis.Analysis`: they show, they never measure."""
