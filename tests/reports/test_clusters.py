"""The split-cluster detector on real features: scikit-learn's handwritten digits in a
learned embedding (linear discriminant analysis fitted on one half of the digits,
applied to the other half), with the real 1s and 7s relabelled as one class."""

from __future__ import annotations

import json

import numpy as np
import pytest

from flywheel.errors import ConfigError
from flywheel.reports.clusters import SplitConfig, find_split_clusters, two_means

Emb = tuple[np.ndarray, np.ndarray, np.ndarray]


@pytest.fixture(scope="module")
def digits_embedding() -> Emb:
    """(embeddings (N, 9), true class names (N,), sample ids (N,)) of held-out digits."""
    from sklearn.datasets import load_digits
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.target))
    fit, held = order[:900], order[900:]
    lda = LinearDiscriminantAnalysis().fit(digits.data[fit], digits.target[fit])
    names = np.array([f"d{t}" for t in digits.target[held]], dtype=object)
    return lda.transform(digits.data[held]), names, np.array([f"s{i}" for i in held], dtype=object)


def _merged(names: np.ndarray) -> np.ndarray:
    out = names.copy()
    out[(names == "d1") | (names == "d7")] = "seven-or-one"
    return out


def test_a_class_mixing_two_real_classes_is_split_along_them(digits_embedding: Emb) -> None:
    emb, truth, ids = digits_embedding
    result = {c.class_name: c for c in find_split_clusters(emb, _merged(truth), ids)}
    mixed = result["seven-or-one"]
    assert mixed.split and len(mixed.groups) == 2
    assert mixed.separation is not None and mixed.separation >= 5.0
    true_of = dict(zip(ids, truth, strict=True))
    for group in mixed.groups:
        kinds = [true_of[s] for s in group.members]
        purity = max(kinds.count("d1"), kinds.count("d7")) / len(kinds)
        assert purity > 0.9, purity  # each group is (almost) one real class
        assert group.examples == group.members[:6]
    assert {true_of[g.members[0]] for g in mixed.groups} == {"d1", "d7"}
    assert mixed.size == int((_merged(truth) == "seven-or-one").sum())


def test_clean_classes_are_not_split(digits_embedding: Emb) -> None:
    emb, truth, ids = digits_embedding
    clean = [
        c for c in find_split_clusters(emb, _merged(truth), ids) if c.class_name != "seven-or-one"
    ]
    assert len(clean) == 8
    for c in clean:
        assert not c.split and len(c.groups) == 1, (c.class_name, c.separation)
        assert c.separation is not None and c.separation < 5.0
        assert c.groups[0].size == int((truth == c.class_name).sum())


def test_the_analysis_is_repeatable_and_serialises_to_the_documented_json(
    digits_embedding: Emb,
) -> None:
    emb, truth, ids = digits_embedding
    first = find_split_clusters(emb, _merged(truth), ids)
    again = find_split_clusters(emb, _merged(truth), ids)
    assert [c.to_json() for c in first] == [c.to_json() for c in again]
    doc = json.loads(json.dumps({"classes": [c.to_json() for c in first]}))
    for entry in doc["classes"]:
        assert {"class", "split", "groups", "separation"} <= set(entry)
        assert all(set(g) == {"size", "examples"} for g in entry["groups"])
    assert [e["class"] for e in doc["classes"]] == sorted(e["class"] for e in doc["classes"])


def test_three_real_classes_under_one_name_give_three_groups(digits_embedding: Emb) -> None:
    emb, truth, ids = digits_embedding
    names = truth.copy()
    names[np.isin(truth, ["d0", "d4", "d6"])] = "mixed"
    mixed = next(c for c in find_split_clusters(emb, names, ids) if c.class_name == "mixed")
    assert mixed.split and len(mixed.groups) == 3
    assert mixed.groups[0].size >= mixed.groups[1].size >= mixed.groups[2].size


def test_small_classes_are_not_tested_and_small_groups_do_not_split(digits_embedding: Emb) -> None:
    emb, truth, ids = digits_embedding
    small = find_split_clusters(emb[:10], ["x"] * 10, ids[:10])[0]
    assert (small.split, small.separation, small.groups[0].size) == (False, None, 10)
    # 90 real 3s plus 8 real 0s under one name: a small group, like label errors.
    pick = np.concatenate([np.flatnonzero(truth == "d3"), np.flatnonzero(truth == "d0")[:8]])
    tainted = find_split_clusters(emb[pick], ["three"] * len(pick), ids[pick])[0]
    assert not tainted.split and tainted.smaller_share is not None
    assert tainted.smaller_share < SplitConfig().min_group_share


def test_bad_input_is_refused_with_the_reason() -> None:
    with pytest.raises(ConfigError, match="N labels and N ids"):
        find_split_clusters(np.zeros((3, 2)), ["a", "b"], ["1", "2", "3"])
    with pytest.raises(ConfigError, match="NaN"):
        find_split_clusters(np.full((3, 2), np.nan), ["a"] * 3, ["1", "2", "3"])
    with pytest.raises(ConfigError, match="min group share"):
        SplitConfig(min_group_share=0.7)


def test_two_means_finds_two_far_blobs() -> None:
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(0, 1, (40, 3)), rng.normal(9, 1, (25, 3))])
    side, centres = two_means(points, rng)
    assert sorted(np.bincount(side).tolist()) == [25, 40]
    assert len(set(side[:40].tolist())) == 1 and centres.shape == (2, 3)


def _lda_on_merged(a: int, b: int) -> Emb:
    """An embedding trained (LDA) on labels where digits a and b are one class, as a
    model trained on the weak labels collapses them; plus the raw pixels."""
    from sklearn.datasets import load_digits
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.target))
    fit, held = order[:900], order[900:]
    weak = np.where(digits.target == b, a, digits.target)
    lda = LinearDiscriminantAnalysis().fit(digits.data[fit], weak[fit])
    names = np.array(["mixed" if t == a else f"d{t}" for t in weak[held]], dtype=object)
    return lda.transform(digits.data[held]), names, digits.data[held]


def test_a_view_the_labels_did_not_shape_finds_what_the_model_collapsed() -> None:
    emb, names, pixels = _lda_on_merged(1, 7)
    ids = np.array([f"s{i}" for i in range(len(names))], dtype=object)
    alone = {c.class_name: c for c in find_split_clusters(emb, names, ids)}
    assert not alone["mixed"].split  # the model's own view: one blob
    both = {c.class_name: c for c in find_split_clusters(emb, names, ids, views={"pixels": pixels})}
    mixed = both["mixed"]
    assert mixed.split and mixed.split_by == "pixels"
    assert [c for c, s in both.items() if s.split] == ["mixed"]
    model, view = mixed.evidence
    assert (model.view, model.split, view.view, view.split) == ("model", False, "pixels", True)
    assert view.z >= SplitConfig().null.z_threshold and view.conductance < view.null_median
    assert json.loads(json.dumps(mixed.to_json()))["evidence"][1]["view"] == "pixels"


def test_the_null_is_the_other_classes_not_a_constant(digits_embedding: Emb) -> None:
    """Scaling every view changes no decision, and a class is never its own null."""
    emb, truth, ids = digits_embedding
    first = find_split_clusters(emb, _merged(truth), ids)
    scaled = find_split_clusters(emb * 1000.0, _merged(truth), ids)
    assert [c.split for c in first] == [c.split for c in scaled]
    mixed = next(c for c in first if c.class_name == "seven-or-one")
    others = [c.evidence[0].conductance for c in first if c.class_name != "seven-or-one"]
    expected = float(np.exp(np.median(np.log(others))))  # the median in log units
    assert mixed.evidence[0].null_median == pytest.approx(expected, rel=1e-9)


def test_split_page_shows_the_evidence_of_each_view(digits_embedding: Emb) -> None:
    from flywheel.reports.split_page import split_page

    emb, truth, ids = digits_embedding
    splits = find_split_clusters(emb, _merged(truth), ids)
    page = split_page("m0001", splits, SplitConfig(), {}, {})
    section = page.split('data-class="seven-or-one"')[1].split("</section>")[0]
    assert "honest classes (median)" in section and "the model&#39;s embedding" in section
    assert "group 2:" in section
