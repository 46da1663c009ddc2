"""``flywheel report balance``: samples per class and where their labels come from.

Per class: samples whose weak label (from tags) names it, consolidated labels by kind —
vendor consensus (``label``), ``gold``, ``verify`` (a weak label or prediction
confirmed) — and the count training would see (consolidated label, else weak label).
Per vendor: answers per class, and verify answers. Written as FILE.html, FILE.png and
FILE.json side by side.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flywheel.config import Settings
from flywheel.errors import ConfigError
from flywheel.lake import CONSOLIDATED, labels_view_sql, sql
from flywheel.reports.page import render, write_page

SOURCES = ("weak", "vendor", "gold", "verify")  # columns of the per-class table
_KIND_TO_SOURCE = {"label": "vendor", "gold": "gold", "verify": "verify"}


@dataclass(frozen=True)
class BalanceConfig:
    out: Path  # FILE.html (or .png / .json): all three are written

    def __post_init__(self) -> None:
        if self.out.suffix not in (".html", ".png", ".json"):
            raise ConfigError(f"--out {self.out} must end in .html, .png or .json")


@dataclass
class Balance:
    classes: dict[str, dict[str, int]]  # class -> {weak, vendor, gold, verify, training}
    unlabelled: dict[str, int]  # ambiguous | untagged -> samples without any class
    vendors: dict[str, dict[str, int]]  # vendor -> {class or "verify:yes" ...: answers}
    out: Path = field(default=Path("balance.html"))

    def to_json(self) -> dict[str, Any]:
        return {
            "classes": [{"class": c, **v} for c, v in sorted(self.classes.items())],
            "unlabelled": self.unlabelled,
            "vendors": self.vendors,
        }

    def line(self) -> str:
        totals = {s: sum(v[s] for v in self.classes.values()) for s in SOURCES}
        training = [v["training"] for v in self.classes.values() if v["training"]]
        ratio = max(training) / min(training) if training else 0.0
        return (
            f"balance: {len(self.classes)} classes; labels from weak tags {totals['weak']}, "
            f"vendors {totals['vendor']}, gold {totals['gold']}, verification "
            f"{totals['verify']}; largest/smallest class {ratio:.1f}x -> {self.out}"
        )


def balance_report(settings: Settings, config: BalanceConfig) -> Balance:
    balance = read_balance(settings)
    balance.out = config.out.with_suffix(".html")
    png = config.out.with_suffix(".png")
    png.parent.mkdir(parents=True, exist_ok=True)
    _plot(png, balance)
    config.out.with_suffix(".json").write_text(json.dumps(balance.to_json(), indent=2) + "\n")
    write_page(balance.out, _html(balance, png.name))
    return balance


def read_balance(settings: Settings) -> Balance:
    classes: dict[str, dict[str, int]] = defaultdict(
        lambda: dict.fromkeys((*SOURCES, "training"), 0)
    )
    weak = (
        "select weak_label as c, count(*) as n from samples where weak_label is not null group by 1"
    )
    for r in sql(weak, settings).to_pylist():
        classes[r["c"]]["weak"] = r["n"]
    kinds = f"""select label as c, label_kind as k, count(*) as n from ({labels_view_sql()})
        where label_source = '{CONSOLIDATED}' group by 1, 2"""
    for r in sql(kinds, settings).to_pylist():
        classes[r["c"]][_KIND_TO_SOURCE.get(r["k"], "vendor")] += r["n"]
    training = f"select label as c, count(*) as n from ({labels_view_sql()}) group by 1"
    for r in sql(training, settings).to_pylist():
        classes[r["c"]]["training"] = r["n"]
    rules = """select case when weak_label_rule like 'ambiguous%' then 'ambiguous' else 'untagged'
        end as rule, count(*) as n from samples s where weak_label is null
        and sample_id not in (select sample_id from labels) group by 1"""
    unlabelled = {r["rule"]: r["n"] for r in sql(rules, settings).to_pylist()}
    answers = """select vendor, case when kind = 'verify' then 'verify:' || label else label end
        as answer, count(*) as n from annotations where not skip and label is not null
        group by 1, 2 order by 1, 2"""
    vendors: dict[str, dict[str, int]] = defaultdict(dict)
    for r in sql(answers, settings).to_pylist():
        vendors[r["vendor"]][r["answer"]] = r["n"]
    return Balance(dict(classes), unlabelled, dict(vendors))


def _plot(path: Path, balance: Balance) -> None:
    """Horizontal stacked bars per class: training samples by where the label came from."""
    from matplotlib.figure import Figure

    names = sorted(balance.classes, key=lambda c: balance.classes[c]["training"])
    fig = Figure(figsize=(8, max(2.5, 0.35 * len(names) + 1.2)), dpi=110, layout="constrained")
    ax = fig.subplots()
    left = [0] * len(names)
    parts = {
        "weak only": [max(0, balance.classes[c]["training"] - _labelled(balance, c)) for c in names]
    }
    parts |= {s: [balance.classes[c][s] for c in names] for s in SOURCES[1:]}
    colors = {"weak only": "#aec7e8", "vendor": "#1f77b4", "gold": "#ff7f0e", "verify": "#2ca02c"}
    for name, values in parts.items():
        ax.barh(names, values, left=left, color=colors[name], label=name)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_xlabel("samples (as training would see them)")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("Class balance and label source", fontsize=11)
    fig.savefig(path, format="png")


def _labelled(balance: Balance, name: str) -> int:
    return sum(balance.classes[name][s] for s in SOURCES[1:])


def _html(balance: Balance, png_name: str) -> str:
    head = ["class", "training", "weak label", "vendor consensus", "gold", "verified"]
    rows: list[list[object]] = [
        [c, v["training"], v["weak"], v["vendor"], v["gold"], v["verify"]]
        for c, v in sorted(balance.classes.items(), key=lambda kv: -kv[1]["training"])
    ]
    answers = sorted({a for v in balance.vendors.values() for a in v})
    vendor_rows: list[list[object]] = [[v, *(balance.vendors[v].get(a, 0) for a in answers)]
                                       for v in sorted(balance.vendors)]  # fmt: skip
    missing = ", ".join(f"{n} {k}" for k, n in sorted(balance.unlabelled.items())) or "none"
    return render("balance.html.j2", line=balance.line(), head=head, rows=rows,
                  answers=answers, vendor_rows=vendor_rows, missing=missing, png=png_name)  # fmt: skip
