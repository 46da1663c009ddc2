"""The demo behind the README's main command: the whole flywheel on real data.

Digits from scikit-learn become PNG files whose hashtags are made wrong on purpose for
a quarter of them; a second feed's tag map lumps #1 and #7 into one class (the mixed
class the split-cluster report must find); a clean, disjoint set is the test split. A first model learns from
the weak labels; then the loop runs rounds of score -> select -> annotate -> export ->
retrain -> gate, while a simulated vendor works through the real HTTP API with three
annotators, one of them bad, whom the gold tasks catch. It prints accuracy per round and
the confusion matrix, and writes an HTML report that links the four data reports:
gallery, confusion (promoted vs first model), embeddings with split clusters, balance.

``DemoConfig(modality="audio")`` runs the same flywheel on spoken keywords made with
espeak-ng at setup time (``flywheel.keywords``): a word anywhere in a one-second clip,
many voices, speeds and pitches, half of them under steady room noise (10-40 dB SNR),
hashtags wrong on purpose for some, and a feed whose tag map lumps "stop" and "go".
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from flywheel.config import Settings
from flywheel.errors import ConfigError
from flywheel.ingest import IngestConfig, ingest
from flywheel.lake import Lake, equal
from flywheel.sample_data import SampleFolder, lump_classes, write_digits_folder
from flywheel.sim import SimulatedAnnotator, SimulatedVendor

if TYPE_CHECKING:
    from flywheel.loop import LoopConfig

QUEUE = "digits"
MIXED = "seven-or-one"  # feed-b's one class for two real digits
AUDIO_QUEUE = "keywords"
AUDIO_MIXED = "stop-or-go"  # the audio feed-b's one class for two real words
AUDIO_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")


@dataclass(frozen=True)
class DemoConfig:
    rounds: int = 2
    budget: int = 120  # samples selected per round
    noise: float = 0.25  # share of pool hashtags that name the wrong digit
    test_size: int = 360  # clean digits held out as the test split
    feed_size: int = 300  # digits from feed-b, whose tag map lumps #1 and #7 into MIXED
    epochs: int = 8
    strategy: str = "margin"
    consensus: int = 2
    gold_rate: float = 0.15  # share of tasks that are gold (known answers)
    n_gold: int = 40
    # Five people, so a disputed task can always reach the 2K+1 distinct answers that
    # consensus may ask for.
    annotators: tuple[SimulatedAnnotator, ...] = (
        SimulatedAnnotator("ann-ada", 0.02),
        SimulatedAnnotator("ann-bo", 0.05),
        SimulatedAnnotator("ann-cy", 0.45),  # the bad one: the gold tasks must catch them
        SimulatedAnnotator("ann-dee", 0.03),
        SimulatedAnnotator("ann-eve", 0.04),
    )
    seed: int = 7
    modality: str = "image"  # or "audio": spoken keywords instead of digits
    voices_per_word: int = 24  # audio: clips per word in the pool (and in feed-b)

    def __post_init__(self) -> None:
        if self.modality not in ("image", "audio"):
            raise ConfigError(f"demo --modality must be image or audio, got {self.modality!r}")

    @property
    def queue(self) -> str:
        return AUDIO_QUEUE if self.modality == "audio" else QUEUE

    @property
    def mixed(self) -> str:
        return AUDIO_MIXED if self.modality == "audio" else MIXED


@dataclass
class DemoData:
    pool: SampleFolder
    feed: SampleFolder
    test: SampleFolder
    truth: dict[str, str] = field(default_factory=dict)  # sample_id -> true class


def write_keyword_data(root: Path, config: DemoConfig) -> DemoData:
    """Keyword folders: the pool (hashtags ``noise`` wrong, half the clips noisy),
    feed-b ("stop" and "go", right hashtags, a tag map that lumps them) and the test
    split (clean tags, voices the pool does not have)."""
    from flywheel.keywords import voices, write_keywords_folder

    n = config.voices_per_word
    every = voices(54, config.seed)  # all voice/speed/pitch combinations, shuffled
    rng = np.random.default_rng(config.seed)
    order = [every[i] for i in rng.permutation(len(every))]
    pool_voices, test_voices = order[:n], order[n : n + 8]
    src = root / "demo-source"
    snrs = (None, None, None, 40, 30, 20, 15, 10)  # half clean, half under room noise
    pool = write_keywords_folder(src / "pool", AUDIO_WORDS, pool_voices, snrs, config.noise,
                                 config.seed)  # fmt: skip
    feed = write_keywords_folder(src / "feed-b", ("stop", "go"), pool_voices, snrs, 0.0,
                                 config.seed + 1)  # fmt: skip
    lump_classes(feed, AUDIO_MIXED, ["stop", "go"])
    test = write_keywords_folder(src / "test", AUDIO_WORDS, test_voices, snrs, 0.0,
                                 config.seed + 2)  # fmt: skip
    return _with_truth(DemoData(pool, feed, test))


def _with_truth(data: DemoData) -> DemoData:
    for folder in (data.pool, data.feed, data.test):
        for rel, label in folder.truth.items():
            data.truth[hashlib.sha256((folder.root / rel).read_bytes()).hexdigest()] = label
    return data


def write_data(root: Path, config: DemoConfig) -> DemoData:
    """Disjoint digit folders: the pool (noisy hashtags, real faults), feed-b (right
    hashtags, but its taxonomy lumps one and seven) and the test split (clean)."""
    order = np.random.default_rng(config.seed).permutation(1797)
    n_pool = 1797 - config.test_size - config.feed_size - 4  # 4: the pool's faulty files
    feed_at = slice(n_pool, n_pool + config.feed_size)
    src = root / "demo-source"
    pool = write_digits_folder(src / "pool", indices=order[:n_pool].tolist(), seed=config.seed,
                               noise=config.noise)  # fmt: skip
    feed = write_digits_folder(src / "feed-b", indices=order[feed_at].tolist(), seed=config.seed,
                               noise=0.0, faults=False)  # fmt: skip
    lump_classes(feed, MIXED, ["one", "seven"])
    test = write_digits_folder(src / "test", indices=order[-config.test_size:].tolist(),
                               seed=config.seed, noise=0.0, faults=False)  # fmt: skip
    return _with_truth(DemoData(pool, feed, test))


def ingest_data(settings: Settings, data: DemoData) -> list[str]:
    lines = []
    for folder, split in ((data.pool, "pool"), (data.feed, "pool"), (data.test, "test")):
        summary = ingest(settings, IngestConfig(str(folder.root), folder.taxonomy, split=split))
        lines += summary.lines()
    return lines


def weak_label_accuracy(settings: Settings, data: DemoData) -> float:
    rows = Lake(settings).read("samples", columns=["sample_id", "weak_label", "split"]).to_pylist()
    labelled = [r for r in rows if r["split"] == "pool" and r["weak_label"]]
    return float(np.mean([data.truth[r["sample_id"]] == r["weak_label"] for r in labelled]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ApiThread:
    """`flywheel serve`'s app under uvicorn on 127.0.0.1, in a background thread."""

    def __init__(self, settings: Settings) -> None:
        import uvicorn

        from flywheel.api import create_app

        self.port = free_port()
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ApiThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.1)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class RoundResult:
    round: int
    version: str
    status: str
    accuracy: float
    labels: int  # consolidated labels in the lake after the round's export
    reason: str


def _say(line: str) -> None:
    print(line, flush=True)


def setup_annotation(settings: Settings, data: DemoData, config: DemoConfig) -> str:
    """The queue, its gold answers (clean pool digits), and the vendor's token."""
    from flywheel.db import open_engine
    from flywheel.queue import add_gold, add_vendor, create_queue, export_labels

    engine = open_engine(settings.catalog_uri)
    try:
        # MIXED is a class of the data (feed-b's weak labels), so model prefills may name
        # it; the annotators answer with the real digit.
        classes = sorted(set(data.truth.values()) | {config.mixed})
        create_queue(
            engine, config.queue, classes, consensus=config.consensus, gold_rate=config.gold_rate
        )
        pool_ids = Lake(settings).read(
            "samples", columns=["sample_id"], row_filter=equal(split="pool")
        )
        rng = np.random.default_rng(config.seed)
        gold_ids = rng.choice(
            pool_ids.column("sample_id").to_pylist(), config.n_gold, replace=False
        )
        gold = [{"sample_id": s, "label": data.truth[s]} for s in gold_ids]
        add_gold(engine, config.queue, gold)
        # Gold answers are facts from the start: in the lake before the first model, so
        # the loop does not count them as a round's worth of new labels.
        export_labels(Lake(settings), engine)
        return add_vendor(engine, "acme-labelling", [config.queue])
    finally:
        engine.dispose()


def train_model(settings: Settings, config: DemoConfig, parent: str | None) -> tuple[str, float]:
    """(version, accuracy on the test split) of a newly trained model."""
    from flywheel.train import TrainConfig, train

    summary = train(
        settings, TrainConfig(epochs=config.epochs, from_version=parent, batch_size=32, lr=3e-3)
    )
    _say(summary.lines()[-1])
    return summary.version, float(summary.metrics["accuracy"])


def loop_config(config: DemoConfig) -> LoopConfig:
    """The controller's settings for the demo's rounds: a batch of ``budget`` picks at a
    time (a new one only when the queue is empty), a round once half a batch has come
    back as labels, the first model's training settings, gates against the best model."""
    from flywheel.loop import GateConfig, LoopConfig
    from flywheel.score import ScoreConfig
    from flywheel.selection import SelectConfig
    from flywheel.train import TrainConfig

    return LoopConfig(
        queue=config.queue,
        select=SelectConfig(strategy=config.strategy, budget=config.budget, seed=config.seed),
        train=TrainConfig(epochs=config.epochs, batch_size=32, lr=3e-3, seed=config.seed),
        score=ScoreConfig(mc_passes=0),
        gates=GateConfig(tolerance=0.01),
        min_new_labels=max(1, config.budget // 2),
        low_water=0,
        rounds=config.rounds,
        poll_s=1.0,
        max_idle_s=300,
    )


def run_rounds(
    settings: Settings, config: DemoConfig, vendor: SimulatedVendor, first: RoundResult
) -> list[RoundResult]:
    """The rounds through the product's controller (``run_loop``): score, select, the
    vendor answering over HTTP whenever the loop waits, export, retrain from the promoted
    model, gate; resumable and exactly-once like any loop."""
    from flywheel.loop import run_loop

    summary = run_loop(settings, loop_config(config), on_idle=vendor.answer_all, echo=_say)
    if len(summary.rounds) < config.rounds:
        raise ConfigError(f"the demo's loop stopped after {len(summary.rounds)} of "
                          f"{config.rounds} rounds: {summary.stopped}")  # fmt: skip
    _say(f"vendor: {vendor.stats.answers} answers in {vendor.stats.leases} leases")
    results, labels = [], first.labels
    for r in summary.rounds:
        labels += r.new_labels
        accuracy = float("nan") if r.accuracy is None else r.accuracy
        results.append(RoundResult(r.round, r.version, r.decision, accuracy, labels, r.reason))
    return results


def annotator_lines(
    settings: Settings, queue: str = QUEUE
) -> tuple[list[str], list[tuple[str, float | None, float | None]]]:
    """Accuracy of each annotator on gold (and Dawid-Skene's estimate)."""
    from flywheel.db import open_engine
    from flywheel.queue import printable, queue_stats

    engine = open_engine(settings.catalog_uri)
    try:
        stats = queue_stats(engine, queue, refresh=True)[0]
    finally:
        engine.dispose()
    rows = [
        (printable(a.annotator), a.gold_accuracy, a.estimated_accuracy) for a in stats.annotators
    ]
    lines = [f"queue {queue}: {stats.done} tasks done, agreement {stats.agreement or 0:.2f}"]
    for name, gold, est in rows:
        flag = "  <- caught by the gold tasks" if gold is not None and gold < 0.8 else ""
        lines.append(
            f"  {name:10s} accuracy on gold {_pct(gold)}, Dawid-Skene estimate {_pct(est)}{flag}"
        )
    return lines, rows


def _pct(x: float | None) -> str:
    return "  n/a" if x is None else f"{100 * x:4.0f}%"


def run_demo(settings: Settings, config: DemoConfig) -> list[RoundResult]:
    """The whole demo; prints as it goes and writes ``<root>/demo-report/index.html``."""
    started = time.monotonic()
    if config.modality == "audio":
        data = write_keyword_data(settings.root, config)
        _say(f"wrote {data.pool.n_files} spoken keywords (espeak-ng; hashtags {config.noise:.0%} "
             f"wrong on purpose, half under room noise at 10-40 dB SNR), {data.feed.n_files} "
             f"from feed-b (whose tag map lumps #stop and #go into {AUDIO_MIXED!r}) and "
             f"{data.test.n_files} test clips in other voices")  # fmt: skip
    else:
        data = write_data(settings.root, config)
        _say(f"wrote {data.pool.n_files} pool digits (hashtags {config.noise:.0%} wrong on purpose, plus "
             f"corrupt, truncated and misnamed files), {data.feed.n_files} from feed-b (whose tag "
             f"map lumps #1 and #7 into {MIXED!r}) and {data.test.n_files} clean test digits")  # fmt: skip
    for line in ingest_data(settings, data):
        _say(line)
    _say(
        f"weak labels are right for {weak_label_accuracy(settings, data):.0%} of the labelled pool"
    )
    token = setup_annotation(settings, data, config)
    _say("\n== first model, on weak labels (and the gold answers)")
    version, acc = train_model(settings, config, parent=None)
    results = [RoundResult(0, version, "promoted", acc, config.n_gold, "first model")]
    with ApiThread(settings) as api:
        _say(f"vendor API on {api.url}; simulated vendor with annotators "
             + ", ".join(f"{a.name} ({a.error_rate:.0%} wrong)" for a in config.annotators))  # fmt: skip
        vendor = SimulatedVendor(
            api.url, token, config.queue, data.truth, config.annotators, seed=config.seed
        )
        try:
            if config.rounds:
                _say("\n== rounds, run by the loop's controller")
                results += run_rounds(settings, config, vendor, results[0])
        finally:
            vendor.close()
    lines, annotators = annotator_lines(settings, config.queue)
    _say("\n== label quality")
    for line in lines:
        _say(line)
    _say("\n== accuracy on the clean test split, per round")
    for r in results:
        _say(
            f"  round {r.round}: {r.version} {r.status:9s} accuracy {r.accuracy:.3f} ({r.labels} labels)"
        )
    final = _final_confusion(settings)
    _say(final)
    from flywheel.demo_report import write_report

    dest = settings.root / "demo-report"
    links = data_reports(settings, dest, config)
    path = write_report(dest, results, annotators, final, links)
    _say(f"\ndemo done in {time.monotonic() - started:.0f}s; report: {path}")
    return results


def _final_confusion(settings: Settings) -> str:
    import json

    from flywheel.train import Models, format_confusion

    row = Models.read(Lake(settings)).get("promoted")
    metrics = json.loads(row["metrics"])
    return (
        f"\n== confusion of the promoted model {row['version']} on the test split\n"
        + format_confusion(metrics)
    )


def data_reports(settings: Settings, dest: Path, config: DemoConfig) -> list[tuple[str, str, str]]:
    """The four ways to look at the data, on the demo's lake, under ``dest``; returns
    (title, path relative to ``dest``, summary line) for each."""
    from flywheel.reports import (
        BalanceConfig,
        BrowseConfig,
        ConfusionConfig,
        EmbeddingsConfig,
        balance_report,
        browse,
        confusion_report,
        embeddings_report,
    )
    from flywheel.score import ScoreConfig, score
    from flywheel.train import Models

    _say("\n== look at the data")
    _say(score(settings, ScoreConfig(mc_passes=0)).lines()[0])  # embeddings of the promoted
    promoted = Models.read(Lake(settings)).get("promoted")["version"]
    gallery = browse(settings, BrowseConfig(dest / "gallery", sample=400, seed=config.seed,
                                            progress=False))  # fmt: skip
    against = None if promoted == "m0001" else "m0001"
    confusion = confusion_report(
        settings, ConfusionConfig(dest / "confusion.html", against=against)
    )
    emb = embeddings_report(settings, EmbeddingsConfig(dest / "embeddings", progress=False))
    balance = balance_report(settings, BalanceConfig(dest / "balance.html"))
    split = [s.class_name for s in emb.splits if s.split]
    whole = [s.class_name for s in emb.splits if not s.split]
    verdict = (f"split clusters: {', '.join(split) or 'none'} mixed; {len(whole)} classes are "
               "one group each")  # fmt: skip
    links = [
        ("Gallery", "gallery/index.html", gallery.line()),
        ("Confusion matrices", "confusion.html", confusion.line()),
        ("Embeddings", "embeddings/index.html", emb.line()),
        ("Split clusters", "embeddings/split_clusters.html", verdict),
        ("Class balance and label sources", "balance.html", balance.line()),
    ]
    for _, _, line in links:
        _say(line)
    return links
