"""Score: the current model's probabilities, embeddings and uncertainty for the pool."""

from flywheel.score.run import ScoreConfig, ScoreSummary, score

__all__ = ["ScoreConfig", "ScoreSummary", "score"]
