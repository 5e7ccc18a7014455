"""The one error the builders raise."""


class BuildError(ValueError):
    """A RayCluster the builders cannot turn into objects; the message names the field and says why."""
