"""The taxonomy: which tags mean which class.

Format (YAML)::

    classes:
      cat: ["#cat", "#kitty"]
      dog: ["#dog", "#puppy"]

Every plain scalar is text: ``yes``, ``no``, ``on``, ``off``, ``null``, ``~`` and ``1e3``
are class names and tags here (Speech Commands' own words), never YAML 1.1 booleans,
nulls or numbers.

Tags match case-insensitively and with or without the leading ``#``; a tag may belong
to one class only. A sample whose tags hit exactly one class gets it as weak label.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from flywheel.errors import TaxonomyError

FORMAT_HINT = "expected `classes: {name: [tag, ...]}`"


class _TextLoader(yaml.SafeLoader):
    """SafeLoader whose plain scalars all resolve to ``str``: no implicit resolvers."""

    # Shared by design: the resolvers are a class-level table in PyYAML.
    yaml_implicit_resolvers: dict[str, list[tuple[str, object]]] = {}  # noqa: RUF012


def parse_text_yaml(text: str) -> object:
    """Parse YAML with every plain scalar read as a string.

    >>> parse_text_yaml("classes: {yes: [yes, on], null: [~], 1e3: [1e3]}")
    {'classes': {'yes': ['yes', 'on'], 'null': ['~'], '1e3': ['1e3']}}
    """
    return yaml.load(text, Loader=_TextLoader)


def normalise_tag(tag: str) -> str:
    """``"#Cat "`` -> ``"cat"``: the form tags are compared in."""
    return tag.strip().lstrip("#").casefold()


@dataclass(frozen=True)
class Taxonomy:
    """Classes and the tags that map to them.

    >>> t = Taxonomy.from_mapping({"classes": {"cat": ["#cat"], "dog": ["#dog"]}})
    >>> t.weak_label(["#Cat", "#cute"])
    ('cat', 'tag:#Cat')
    >>> t.weak_label(["#cat", "#dog"])
    (None, 'ambiguous:cat,dog')
    >>> t.weak_label(["#cute"])
    (None, None)
    """

    classes: tuple[str, ...]
    tag_to_class: dict[str, str]

    @classmethod
    def load(cls, path: str | Path) -> Taxonomy:
        path = Path(path)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise TaxonomyError(f"taxonomy file {path} does not exist") from None
        except OSError as err:
            raise TaxonomyError(f"cannot read taxonomy file {path}: {err.strerror}") from None
        try:
            doc = parse_text_yaml(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise TaxonomyError(f"taxonomy file {path} is not valid YAML{where}") from None
        try:
            return cls.from_mapping(doc)
        except TaxonomyError as err:
            raise TaxonomyError(f"taxonomy file {path}: {err}") from None

    @classmethod
    def from_mapping(cls, doc: object) -> Taxonomy:
        if not isinstance(doc, dict) or not isinstance(doc.get("classes"), dict):
            raise TaxonomyError(f"no `classes` mapping; {FORMAT_HINT}")
        if not doc["classes"]:
            raise TaxonomyError(f"`classes` is empty; {FORMAT_HINT}")
        extra = sorted(set(doc) - {"classes"})
        if extra:
            raise TaxonomyError(f"unknown key(s) {', '.join(map(str, extra))}; {FORMAT_HINT}")
        tag_to_class: dict[str, str] = {}
        for name, tags in doc["classes"].items():
            if not isinstance(name, str) or not name.strip():
                raise TaxonomyError(f"class name {name!r} is not a non-empty string")
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                raise TaxonomyError(f"class {name!r} must list its tags as strings; {FORMAT_HINT}")
            for tag in tags:
                key = normalise_tag(tag)
                other = tag_to_class.get(key)
                if other is not None and other != name:
                    raise TaxonomyError(f"tag {tag!r} is listed under both {other!r} and {name!r}")
                tag_to_class[key] = name
        return cls(classes=tuple(doc["classes"]), tag_to_class=tag_to_class)

    def weak_label(self, tags: Iterable[str]) -> tuple[str | None, str | None]:
        """(class, rule) for a sample's tags: one class hit -> that class and the tag;
        two or more -> no label, rule ``ambiguous:<classes>``; none -> (None, None)."""
        hits: dict[str, str] = {}
        for tag in tags:
            cls_name = self.tag_to_class.get(normalise_tag(tag))
            if cls_name is not None:
                hits.setdefault(cls_name, tag)
        if not hits:
            return None, None
        if len(hits) == 1:
            ((cls_name, tag),) = hits.items()
            return cls_name, f"tag:{tag}"
        return None, "ambiguous:" + ",".join(sorted(hits))
