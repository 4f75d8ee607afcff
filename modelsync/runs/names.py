"""Run names: validated like branch names, generated readable and unique when absent."""

from __future__ import annotations

import secrets

from ..errors import InvalidRefName
from ..model.layout import label_tag
from ..repo.refs import check_ref_name

ADJECTIVES = (
    "amber", "bold", "brave", "bright", "calm", "clever", "cosmic", "crisp", "curious", "daring",
    "eager", "early", "fancy", "fast", "fierce", "gentle", "glad", "golden", "grand", "happy",
    "hidden", "humble", "jolly", "keen", "kind", "lively", "lucky", "mellow", "merry", "mighty",
    "misty", "noble", "patient", "polished", "proud", "quick", "quiet", "rapid", "rustic", "silent",
    "silver", "smooth", "snowy", "solid", "steady", "sunny", "swift", "tidy", "vivid", "wise",
)  # fmt: skip
NOUNS = (
    "badger", "bear", "bison", "cedar", "comet", "crane", "delta", "dolphin", "eagle", "falcon",
    "fern", "finch", "fox", "galaxy", "gecko", "harbor", "hawk", "heron", "island", "jaguar",
    "koala", "lagoon", "lark", "lemur", "lynx", "maple", "meadow", "meteor", "moose", "nebula",
    "oak", "orca", "otter", "owl", "panda", "pine", "quasar", "raven", "reef", "river",
    "salmon", "sparrow", "spruce", "summit", "swan", "tiger", "tundra", "valley", "willow", "wolf",
)  # fmt: skip


def generate_run_name() -> str:
    """``adjective-noun-NNNN``: 25 million names, so a clash (retried by the caller) is rare."""
    return f"{secrets.choice(ADJECTIVES)}-{secrets.choice(NOUNS)}-{secrets.randbelow(10_000):04d}"


def check_run_name(name: object) -> str:
    """A name usable as ``runs/<name>``, and as ``<name>@<label>`` in revisions."""
    if not isinstance(name, str):
        raise InvalidRefName(f"a run name must be a string, not {type(name).__name__}")
    check_ref_name(name, "run")
    if "@" in name:
        raise InvalidRefName(f"invalid run name {name!r}: '@' separates a run from its labels")
    return name


def check_label(run: str, label: object) -> str:
    """A label for ``run.tag``: the tag ``runs/<run>@<label>`` must be a valid ref name."""
    if not isinstance(label, str) or not label or "@" in label or "/" in label:
        raise InvalidRefName(f"invalid run label {label!r}: use a name without '@' or '/'")
    check_ref_name(label_tag(run, label), "tag")
    return label
