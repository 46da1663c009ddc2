"""Select: turn scores into a ranked, batch-aware choice and send it to annotation."""

from flywheel.selection.run import SelectConfig, SelectSummary, select

__all__ = ["SelectConfig", "SelectSummary", "select"]
