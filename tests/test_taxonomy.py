from pathlib import Path

import pytest

from flywheel.errors import TaxonomyError
from flywheel.taxonomy import Taxonomy

DOC = {"classes": {"cat": ["#cat", "#kitty"], "dog": ["#dog"]}}


def test_one_class_hit_gives_that_class_and_the_matched_tag() -> None:
    t = Taxonomy.from_mapping(DOC)
    assert t.weak_label(["#sunny", "#Kitty"]) == ("cat", "tag:#Kitty")


def test_tags_of_two_classes_are_ambiguous() -> None:
    t = Taxonomy.from_mapping(DOC)
    assert t.weak_label(["#dog", "#cat"]) == (None, "ambiguous:cat,dog")


def test_two_tags_of_the_same_class_are_not_ambiguous() -> None:
    t = Taxonomy.from_mapping(DOC)
    assert t.weak_label(["#cat", "#kitty"]) == ("cat", "tag:#cat")


def test_unmapped_tags_give_no_label() -> None:
    assert Taxonomy.from_mapping(DOC).weak_label(["#sunset"]) == (None, None)
    assert Taxonomy.from_mapping(DOC).weak_label([]) == (None, None)


def test_matching_ignores_case_and_hash() -> None:
    assert Taxonomy.from_mapping(DOC).weak_label(["DOG"]) == ("dog", "tag:DOG")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([1, 2], "no `classes` mapping"),
        ({"classes": {}}, "`classes` is empty"),
        ({"classes": {"cat": "#cat"}}, "must list its tags"),
        ({"classes": {"cat": ["#x"], "dog": ["#X"]}}, "listed under both"),
        ({"classes": {"cat": ["#cat"]}, "extra": 1}, "unknown key"),
    ],
)
def test_wrong_format_is_a_one_line_error(doc: object, message: str) -> None:
    with pytest.raises(TaxonomyError, match=message) as err:
        Taxonomy.from_mapping(doc)
    assert "\n" not in str(err.value)


def test_invalid_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("classes:\n  cat: [#cat\n")
    with pytest.raises(TaxonomyError, match=r"t.yaml is not valid YAML at line \d"):
        Taxonomy.load(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="does not exist"):
        Taxonomy.load(tmp_path / "nope.yaml")


def test_json_schema_agrees_with_the_loader(tmp_path: Path) -> None:
    import json

    import jsonschema

    schema = json.loads(
        (Path(__file__).parents[1] / "schemas" / "taxonomy.schema.json").read_text()
    )
    jsonschema.validate(DOC, schema)
    for bad in (
        [1, 2],
        {"classes": {}},
        {"classes": {"cat": "#cat"}},
        {"classes": {"c": []}, "x": 1},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
        with pytest.raises(TaxonomyError):
            Taxonomy.from_mapping(bad)


SPEECH_COMMANDS = [
    "yes",
    "no",
    "up",
    "down",
    "left",
    "right",
    "on",
    "off",
    "stop",
    "go",
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "bed",
    "bird",
    "cat",
    "dog",
    "happy",
    "house",
    "marvin",
    "sheila",
    "tree",
    "wow",
    "backward",
    "forward",
    "follow",
    "learn",
    "visual",
]


def test_speech_commands_words_are_class_names_and_tags(tmp_path: Path) -> None:
    """YAML 1.1 reads yes/no/on/off as booleans; a taxonomy reads every scalar as text."""
    path = tmp_path / "t.yaml"
    path.write_text("classes:\n" + "".join(f"  {w}: [{w}, '#{w}']\n" for w in SPEECH_COMMANDS))
    t = Taxonomy.load(path)
    assert t.classes == tuple(SPEECH_COMMANDS)
    for word in SPEECH_COMMANDS:
        assert t.weak_label([f"#{word}"]) == (word, f"tag:#{word}")


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "null", "~", "1e3", "true", "0x10"])
def test_yaml_11_specials_stay_text(tmp_path: Path, word: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(f"classes:\n  {word}: [{word}]\n  other: [other]\n")
    t = Taxonomy.load(path)
    assert t.classes == (word, "other")
    assert t.weak_label([word]) == (word, f"tag:{word}")
