"""Ingest: weakly-labelled media from a folder, manifest or S3 prefix into the lake."""

from flywheel.ingest.run import IngestConfig, ingest
from flywheel.ingest.summary import IngestSummary
from flywheel.taxonomy import Taxonomy

__all__ = ["IngestConfig", "IngestSummary", "Taxonomy", "ingest"]
