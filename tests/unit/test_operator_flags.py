"""``gatekey operator``'s flags and their ``GATEKEY_*`` variables build its options."""

import argparse
from datetime import timedelta

import pytest

from gatekey.issuer.flags import (
    FlagError,
    add_operator_options,
    add_token_management,
    operator_options,
)
from gatekey.operator.kube.settings import OperatorOptions


def parse(argv: list[str], environ: dict[str, str] | None = None) -> OperatorOptions:
    environ = environ or {}

    def env(flag: str, default: object = None) -> object:
        return environ.get("GATEKEY_" + flag.upper().replace("-", "_"), default)

    def env_list(flag: str) -> list[str]:
        return [v for v in str(env(flag, "")).split(",") if v]

    def env_flag(flag: str) -> bool:
        return str(env(flag, "")).lower() in ("1", "true", "yes", "on")

    parser = argparse.ArgumentParser()
    add_operator_options(parser, env, env_list, env_flag)
    add_token_management(parser, env, env_list, env_flag)
    return operator_options(parser.parse_args(argv))


def test_the_defaults_are_the_options_defaults() -> None:
    assert parse([]) == OperatorOptions()


def test_every_flag_reaches_its_option() -> None:
    options = parse(
        [
            "--key-rotation=30d",
            "--key-prepublish=2h",
            "--resync-period=1m",
            "--debounce=0.2",
            "--failure-backoff=1,5,1m",
            "--api-concurrency=4",
            "--no-events",
        ]
    )
    assert options.render.key_rotation == timedelta(days=30)
    assert options.render.key_prepublish == timedelta(hours=2)
    assert options.resync_period == 60
    assert options.debounce == 0.2
    assert options.failure_backoff == (1, 5, 60)
    assert options.api_concurrency == 4
    assert options.post_events is False


def test_environment_variables() -> None:
    options = parse(
        [], {"GATEKEY_KEY_ROTATION": "7d", "GATEKEY_NO_EVENTS": "true", "GATEKEY_DEBOUNCE": "0"}
    )
    assert options.render.key_rotation == timedelta(days=7)
    assert options.post_events is False
    assert options.debounce == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--key-rotation=soon"], "--key-rotation 'soon': expected a duration"),
        (["--resync-period=0"], "--resync-period '0': must be more than 0"),
        (["--debounce=-1"], "--debounce '-1': must be 0 or more"),
        (["--key-rotation=1h", "--key-prepublish=1h"], "must be shorter than --key-rotation"),
        (["--api-concurrency=many"], "--api-concurrency 'many'"),
        (["--failure-backoff=,"], "--failure-backoff: at least one delay"),
    ],
)
def test_bad_values_name_the_flag(argv: list[str], message: str) -> None:
    with pytest.raises(FlagError, match=message.replace("(", r"\(")):
        parse(argv)


def test_the_issuers_response_names_reach_render() -> None:
    """The operator's render refuses a Metadata key equal to a response name the issuers
    use: it must know those names (the chart gives both the same values)."""
    options = parse(["--response-field-name=access_token=token"])
    assert options.render.token_management.response.name("access_token") == "token"
    from_env = parse([], {"GATEKEY_RESPONSE_FIELD_NAME": "token_type=kind"})
    assert from_env.render.token_management.response.name("token_type") == "kind"
    with pytest.raises(FlagError, match="--response-field-name 'token': expected FIELD=NAME"):
        parse(["--response-field-name=token"])
