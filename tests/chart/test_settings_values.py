"""The Token Management Settings and the operator's options as Helm values: rendered into the
flags, read back by the real command line into the settings the processes run with, and
refused by values.schema.json when malformed."""

from datetime import timedelta
from typing import Any

import pytest

from gatekey.issuer import cli, flags
from gatekey.operator.kube.settings import OperatorOptions
from gatekey.operator.model import TokenManagement
from tests.chart.conftest import Helm, HelmError
from tests.chart.test_chart import Rendered, args_of


def test_token_management_values_reach_the_issuer_and_its_sidecars(rendered: Rendered) -> None:
    objects = rendered("settings")
    for deployment, container in (("issuer", "issuer"), ("example-proxy", "gatekey")):
        args = args_of(objects, deployment, container)
        assert "--scope-on-mismatch=Lenient" in args
        assert "--response-field-name=access_token=token" in args
        assert "--response-omit=scope" in args
        assert "--response-omit=token_type" not in args  # include: true is the default
        settings = flags.token_management(cli._parser().parse_args(args))
        assert settings.scope.on_mismatch == "Lenient"
        assert settings.scope.when_not_requested == "All"
        assert settings.scope.reject_when_no_roles is True
        assert settings.response.name("access_token") == "token"
        assert settings.response.name("expires_in") == "ttl"
        assert not settings.response.includes("scope")
        assert settings.response.includes("token_type")
        assert settings.response.expires_in_unit == "milliseconds"


def test_default_values_are_the_default_settings(rendered: Rendered) -> None:
    args = args_of(rendered("default"), "issuer", "issuer")
    assert flags.token_management(cli._parser().parse_args(args)) == TokenManagement()
    args = args_of(rendered("default"), "operator", "operator")
    assert flags.operator_options(cli._parser().parse_args(args)) == OperatorOptions()


def test_operator_values_reach_the_operator(rendered: Rendered) -> None:
    args = args_of(rendered("settings"), "operator", "operator")
    assert "--no-events" in args
    options = flags.operator_options(cli._parser().parse_args(args))
    assert options.render.key_rotation == timedelta(days=30)
    assert options.render.key_prepublish == timedelta(hours=2)
    assert options.resync_period == 60
    assert options.debounce == 0.2
    assert options.failure_backoff == (1, 5, 60)
    assert options.api_concurrency == 4
    assert options.post_events is False
    # The issuers' response names, so that render refuses a Metadata key equal to one.
    issuers = flags.token_management(
        cli._parser().parse_args(args_of(rendered("settings"), "issuer", "issuer"))
    )
    assert options.render.token_management == issuers
    assert options.render.token_management.response.name("access_token") == "token"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"issuer": {"tokenManagement": {"scope": {"onMismatch": "Sloppy"}}}},
            "/issuer/tokenManagement/scope/onMismatch",
        ),
        (
            {"issuer": {"tokenManagement": {"response": {"fieldNames": {"acces_token": "t"}}}}},
            "additional properties 'acces_token' not allowed",
        ),
        (
            {"issuer": {"tokenManagement": {"response": {"fieldNames": {"scope": "my scope"}}}}},
            "/issuer/tokenManagement/response/fieldNames/scope",
        ),
        (
            {"issuer": {"tokenManagement": {"response": {"include": {"access_token": False}}}}},
            "additional properties 'access_token' not allowed",
        ),
        (
            {"issuer": {"tokenManagement": {"response": {"expiresInUnit": "hours"}}}},
            "/issuer/tokenManagement/response/expiresInUnit",
        ),
        ({"operator": {"resyncPeriod": "5 minutes"}}, "/operator/resyncPeriod"),
        ({"operator": {"signingKeys": {"rotation": 0}}}, "/operator/signingKeys/rotation"),
        ({"operator": {"apiConcurrency": 0}}, "/operator/apiConcurrency"),
        ({"operator": {"failureBackoff": []}}, "/operator/failureBackoff"),
        ({"operator": {"postEvents": "no"}}, "/operator/postEvents"),
    ],
)
def test_the_schema_refuses(helm: Helm, values: dict[str, Any], message: str) -> None:
    with pytest.raises(HelmError) as refused:
        helm.template(values)
    assert message in str(refused.value)
