"""Deterministic train/val/test assignment from a record's content hash.

The split of an image is a pure function of its sha256 and the store's :class:`SplitPolicy`, so
adding images never moves an existing one, and two stores holding the same images agree on
every split. An importer may still *pin* a split (IDX ``t10k`` files go to ``test``).
"""

from __future__ import annotations

from dataclasses import dataclass

from autolit.errors import UserError

SPLITS: tuple[str, ...] = ("train", "val", "test")

# The first 64 bits of the hash give a uniform number in [0, 1); 64 bits is plenty for
# fractions and keeps the rule easy to restate in other languages (docs/store.md).
_HASH_BITS = 64


@dataclass(frozen=True)
class SplitPolicy:
    """Fractions of records that go to the validation and test splits (the rest is train).

    Args:
        val: fraction of records assigned to ``val``.
        test: fraction of records assigned to ``test``.
    """

    val: float = 0.1
    test: float = 0.1

    def __post_init__(self) -> None:
        for name, value in (("val", self.val), ("test", self.test)):
            if not 0.0 <= float(value) < 1.0:
                raise UserError(
                    f"split fraction {name}={value!r} is out of range; use a number in [0, 1)"
                )
        if self.val + self.test >= 1.0:
            raise UserError(
                f"split fractions val={self.val} + test={self.test} leave nothing for train; "
                "make their sum smaller than 1"
            )

    def to_dict(self) -> dict:
        """JSON form stored in the store's meta (and hashed into the fingerprint)."""
        return {"val": float(self.val), "test": float(self.test)}

    @classmethod
    def from_dict(cls, d: dict) -> SplitPolicy:
        """Inverse of :meth:`to_dict`."""
        return cls(val=float(d["val"]), test=float(d["test"]))


def split_for(sha256_hex: str, policy: SplitPolicy) -> str:
    """Return ``"train"``, ``"val"`` or ``"test"`` for a record, from its hash only.

    Rule: ``u = int(sha256_hex[:16], 16) / 2**64``; ``u < test`` → test,
    ``u < test + val`` → val, otherwise train.
    """
    u = int(sha256_hex[: _HASH_BITS // 4], 16) / float(1 << _HASH_BITS)
    if u < policy.test:
        return "test"
    if u < policy.test + policy.val:
        return "val"
    return "train"
