"""Ingest: weakly-labelled media from a folder, manifest or S3 prefix into the lake."""

from flywheel.ingest.run import IngestConfig, IngestSummary, ingest
from flywheel.taxonomy import Taxonomy

__all__ = ["IngestConfig", "IngestSummary", "Taxonomy", "ingest"]
