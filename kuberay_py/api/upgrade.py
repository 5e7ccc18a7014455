"""How running pods follow a change of their pod template."""

from typing import Annotated, ClassVar, Final

from kuberay_py.api import messages as m
from kuberay_py.api import patterns as pat
from kuberay_py.api.base import KubeModel
from kuberay_py.api.enums import UpgradeType, values
from kuberay_py.api.markers import Rule, Schema, one_of
from kuberay_py.api.types import IntOrString, Str


def _valid_max_unavailable(value: int | str) -> bool:
    if isinstance(value, str):
        return pat.matches(pat.PERCENT, value)
    return value >= 1


MaxUnavailable = Annotated[
    IntOrString,
    Schema(
        rules=(
            Rule(
                cel=f"type(self) == string ? self.matches({pat.cel(pat.PERCENT)}) : self >= 1",
                message=m.MAX_UNAVAILABLE_INVALID,
                check=_valid_max_unavailable,
            ),
        )
    ),
]

DEFAULT_MAX_UNAVAILABLE: Final = 1


class RollingUpdate(KubeModel):
    """Settings of the RollingUpdate strategy."""

    max_unavailable: MaxUnavailable = DEFAULT_MAX_UNAVAILABLE
    """How many pods of a worker group may be down for replacement at once: a number of pods, or a percentage
    of the group's desired pods, rounded down but never below 1. Default: 1."""

    def max_unavailable_pods(self, desired_pods: int) -> int:
        """The number of pods of a group with `desired_pods` pods that may be replaced at the same time."""
        value = self.max_unavailable
        if isinstance(value, str):
            value = desired_pods * int(value.rstrip("%")) // 100
        return max(1, value)


class UpgradeStrategy(KubeModel):
    """What happens to running pods when their pod template changes.

    - `None`: nothing; running pods keep their old template, new pods get the new one (KubeRay's behaviour
      when no strategy is set).
    - `Recreate`: delete every pod of the cluster, then create them again from the new templates.
    - `RollingUpdate` (kuberay-py's own): replace pods whose template is out of date a few at a time, at most
      `rollingUpdate.maxUnavailable` per worker group, waiting for replacements to be ready; the head pod is
      replaced on its own.

    Example: `upgradeStrategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: "25%"}}`.
    Without an upgradeStrategy, running pods are left alone, as KubeRay does (the status counts the outdated
    ones); a strategy with only `rollingUpdate` settings means RollingUpdate.
    """

    type: Annotated[Str, one_of(values(UpgradeType), m.UPGRADE_TYPE_UNKNOWN)] | None = None
    """None, Recreate or RollingUpdate. Default: RollingUpdate when rollingUpdate is set, else None."""
    rolling_update: RollingUpdate | None = None
    """Settings of RollingUpdate; not allowed with the other types."""

    admission_rules: ClassVar[tuple[Rule, ...]] = (
        Rule(
            cel="!has(self.rollingUpdate) || !has(self.type) || self.type == 'RollingUpdate'",
            message=m.ROLLING_UPDATE_WITHOUT_TYPE,
            check=lambda s: s.rolling_update is None or s.type in (None, UpgradeType.ROLLING_UPDATE),
            field_path=".rollingUpdate",
        ),
    )

    def effective_type(self) -> UpgradeType:
        if self.type:
            return UpgradeType(self.type)
        return UpgradeType.ROLLING_UPDATE if self.rolling_update is not None else DEFAULT_UPGRADE_TYPE

    def effective_rolling_update(self) -> RollingUpdate:
        return self.rolling_update or RollingUpdate()


DEFAULT_UPGRADE_TYPE: Final = UpgradeType.NONE
