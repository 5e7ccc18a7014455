"""Token authentication: the Ray cluster refuses any request without its token, from outside or inside."""

from typing import Annotated, ClassVar

from pydantic import Field

from kuberay_py.api import messages as m
from kuberay_py.api.base import KubeModel
from kuberay_py.api.enums import AuthMode, values
from kuberay_py.api.markers import Rule, one_of
from kuberay_py.api.types import Bool, Str


def _k8s_auth_needs_token_mode(options: "AuthOptions") -> bool:
    return not options.enable_k8s_token_auth or options.mode == AuthMode.TOKEN


def _secret_or_k8s_auth(options: "AuthOptions") -> bool:
    return not (options.enable_k8s_token_auth and options.secret_name)


class AuthOptions(KubeModel):
    """How clients and Ray nodes prove who they are to the cluster (Ray 2.52 and later)."""

    mode: Annotated[Str, one_of(values(AuthMode), m.AUTH_MODE_UNKNOWN)] | None = None
    """token: every Ray API needs the cluster's token; disabled (the default): none does."""
    secret_name: Str | None = None
    """A Secret of the user's whose `auth_token` key holds the token. Default: the operator creates a Secret
    named after the cluster with a random token."""
    enable_k8s_token_auth: Bool | None = Field(default=None, alias="enableK8sTokenAuth")
    """Let Kubernetes decide instead of one shared token: Ray checks a caller's ServiceAccount token with a
    TokenReview and a SubjectAccessReview (verb `ray:write` on the RayCluster). Ray 2.55 and later."""

    admission_rules: ClassVar[tuple[Rule, ...]] = (
        Rule(
            cel=(
                "!has(self.enableK8sTokenAuth) || !self.enableK8sTokenAuth || "
                f"(has(self.mode) && self.mode == '{AuthMode.TOKEN}')"
            ),
            message=m.K8S_TOKEN_AUTH_WITHOUT_TOKEN_MODE,
            check=_k8s_auth_needs_token_mode,
            field_path=".enableK8sTokenAuth",
        ),
        Rule(
            cel=(
                "!has(self.enableK8sTokenAuth) || !self.enableK8sTokenAuth || "
                "!has(self.secretName) || self.secretName == ''"
            ),
            message=m.K8S_TOKEN_AUTH_WITH_SECRET,
            check=_secret_or_k8s_auth,
            field_path=".secretName",
        ),
    )

    def token_mode(self) -> bool:
        return self.mode == AuthMode.TOKEN
