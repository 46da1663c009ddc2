"""The public surface of every flywheel package is what its __init__ re-exports; this pins
each one here, in one table. A package added without a pin, a name added or dropped, or a
name in ``__all__`` that does not import fails. (The packages' own tests/*/test_public_api.py
check what their names are, e.g. which errors subclass which; the names are listed here.)"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import flywheel

PUBLIC: dict[str, list[str]] = {
    "flywheel": ["FlywheelError", "Lake", "Settings", "sql"],
    "flywheel.api": ["ApiConfig", "create_app", "create_app_from_env", "openapi_document"],
    "flywheel.bench": [
        "BenchConfig",
        "BenchResult",
        "CurvePoint",
        "Oracle",
        "TARGETS",
        "labels_to_target",
        "run_benchmark",
        "summarize",
    ],
    "flywheel.db": ["metadata", "open_engine", "run_transaction", "transaction"],
    "flywheel.ingest": [
        "Committer",
        "IngestConfig",
        "IngestSummary",
        "InspectConfig",
        "SourceItem",
        "Taxonomy",
        "ingest",
        "inspect_items",
    ],
    "flywheel.lake": [
        "CONSOLIDATED",
        "Change",
        "CommitHook",
        "Head",
        "Lake",
        "PREDICTIONS",
        "QUARANTINE",
        "SAMPLES",
        "SELECTIONS",
        "TABLE_SCHEMAS",
        "among",
        "commit_fresh",
        "equal",
        "filesystem",
        "format_table",
        "labels_at",
        "labels_view_sql",
        "media_batches",
        "media_of",
        "put_bytes_if_absent",
        "read_bytes",
        "s3_client",
        "sql",
        "sync_model_events",
        "without_rows",
    ],
    "flywheel.loop": [
        "FeedbackReport",
        "FeedbackResult",
        "GateConfig",
        "GateResult",
        "LoopBusyError",
        "LoopConfig",
        "LoopError",
        "LoopSummary",
        "LoopTakenOverError",
        "MAX_MEDIA_BYTES",
        "MediaRejectedError",
        "RoundSummary",
        "Status",
        "evaluate_gates",
        "gate_candidate",
        "load_blocklist",
        "read_status",
        "record_feedback",
        "run_loop",
    ],
    "flywheel.modalities": [
        "AudioChecks",
        "AudioModality",
        "CHECK_HELP",
        "MediaFacts",
        "Modality",
        "Rejected",
        "get_modality",
        "loudest_centre",
        "modality_for_mime",
        "names",
        "speech_mel_power",
    ],
    "flywheel.networks": [
        "CheckpointError",
        "Classifier",
        "EfficientNetLite0",
        "NetworkError",
        "SmallConvNet",
        "load_imagenet_weights",
        "load_weights",
    ],
    "flywheel.queue": [
        "ApiConfig",
        "ApiState",
        "AuthError",
        "ConflictError",
        "Decision",
        "EnqueueResult",
        "ExportResult",
        "InvalidAnswerError",
        "LeaseExpiredError",
        "MAX_HEADER_BYTES",
        "Queue",
        "QueueError",
        "QueueStats",
        "Token",
        "add_gold",
        "add_vendor",
        "clean_prefill",
        "create_app",
        "create_queue",
        "dawid_skene",
        "enqueue",
        "export_labels",
        "get_queue",
        "majority_vote",
        "open_engine",
        "open_tasks",
        "printable",
        "queue_stats",
        "queued_sample_ids",
        "refresh_quality",
        "revoke_vendor",
        "scrub_prefills",
        "transaction",
        "weighted_vote",
    ],
    "flywheel.reports": [
        "BalanceConfig",
        "BrowseConfig",
        "ClassSplit",
        "ConfusionConfig",
        "EmbeddingsConfig",
        "Group",
        "SplitConfig",
        "VerifyClusterConfig",
        "balance_report",
        "browse",
        "confusion_report",
        "embeddings_report",
        "find_split_clusters",
        "parse_cluster_ref",
        "render",
        "verify_cluster",
    ],
    "flywheel.score": ["ScoreConfig", "ScoreSummary", "score"],
    "flywheel.selection": [
        "SelectConfig",
        "SelectSummary",
        "known_sample_ids",
        "select",
        "select_for_verification",
    ],
    "flywheel.strategies": [
        "BudgetTooLargeError",
        "ClassBalanced",
        "EmptyPoolError",
        "InvalidBudgetError",
        "InvalidPoolError",
        "MissingArrayError",
        "Modifier",
        "Pool",
        "PriorShift",
        "RngLike",
        "Selection",
        "SkipKnown",
        "Strategy",
        "StrategyError",
        "adjust_probs",
        "compose",
        "estimate_priors_em",
        "get_strategy",
        "names",
    ],
    "flywheel.submit": [
        "JobFailedError",
        "JobsApiError",
        "JobsAuthError",
        "JobsClient",
        "JobsTarget",
        "JobsUnreachableError",
        "entrypoint",
        "find_checkout",
        "find_token",
        "runtime_env",
    ],
    "flywheel.train": [
        "Checkpoint",
        "CheckpointError",
        "Models",
        "NoTrainingDataError",
        "PROMOTED_ALIAS",
        "TrainConfig",
        "TrainError",
        "TrainSummary",
        "WorkerConfig",
        "evaluate",
        "format_confusion",
        "in_holdout",
        "load_checkpoint",
        "save_checkpoint",
        "table_batches",
        "table_slices",
        "train",
        "train_epoch",
    ],
}


def _packages() -> list[str]:
    found = pkgutil.walk_packages(flywheel.__path__, "flywheel.")
    return ["flywheel", *sorted(m.name for m in found if m.ispkg)]


def _modules() -> list[str]:
    """Every module of flywheel but the ``__main__`` ones (importing those runs them)."""
    found = pkgutil.walk_packages(flywheel.__path__, "flywheel.")
    return sorted(m.name for m in found if not m.name.endswith(".__main__"))


def test_every_package_is_pinned() -> None:
    assert sorted(PUBLIC) == sorted(_packages())


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_public_names_are_pinned(package: str) -> None:
    exported = importlib.import_module(package).__all__
    assert len(set(exported)) == len(exported), f"{package}.__all__ repeats a name"
    assert sorted(exported) == PUBLIC[package]


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_every_public_name_imports(package: str) -> None:
    for name in PUBLIC[package]:
        namespace: dict[str, object] = {}
        exec(f"from {package} import {name}", namespace)  # the way users import it
        assert namespace[name] is not None, f"{package}.{name}"


def test_every_module_all_names_what_it_has() -> None:
    """A submodule's ``__all__`` (where it has one) lists only names it defines or imports."""
    for name in _modules():
        module = importlib.import_module(name)
        for exported in getattr(module, "__all__", ()):
            assert hasattr(module, exported), f"{name}.__all__ lists {exported!r}"


def test_every_error_is_a_flywheel_error_and_a_stdlib_error() -> None:
    from flywheel import errors

    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, Exception)]
    for cls in classes:
        assert issubclass(cls, flywheel.FlywheelError)
        if cls is not flywheel.FlywheelError:
            assert any(b.__module__ == "builtins" and b is not Exception for b in cls.__mro__), cls
