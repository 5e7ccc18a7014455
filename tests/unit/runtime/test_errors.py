"""Which API errors mean what to a controller."""

from kuberay_py.runtime.errors import Forbidden, NotFound, is_namespace_terminating


def test_a_create_in_a_namespace_being_deleted_is_recognised() -> None:
    refused = Forbidden(
        'services "c-head-svc" is forbidden: unable to create new content in namespace t-1 '
        "because it is being terminated"
    )
    assert is_namespace_terminating(refused)


def test_other_refusals_are_not() -> None:
    assert not is_namespace_terminating(
        Forbidden('pods is forbidden: User "x" cannot create resource "pods"')
    )
    assert not is_namespace_terminating(NotFound("because it is being terminated"))
