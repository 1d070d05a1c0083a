"""Request parameters: ``application/x-www-form-urlencoded`` bodies and URL queries.

RFC 6749 §3.2: parameters sent without a value are treated as omitted, and a
parameter must not be included more than once. No request of these endpoints
needs more than a dozen parameters: past :data:`MAX_PARAMS` the request is refused
before any of it is decoded (``parse_qsl`` costs grow with the count).
"""

from urllib.parse import parse_qsl

from gatekey.issuer.errors import InvalidRequest

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_PARAMS = 64


def parse_params(raw: bytes | str) -> dict[str, str]:
    """Parameters by name; a repeated parameter, too many of them or a body that is not
    UTF-8 is refused."""
    try:
        text = raw.decode() if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise InvalidRequest("the request body is not UTF-8") from None
    if "%" in text or "+" in text:
        try:
            pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_PARAMS)
        except ValueError:
            raise InvalidRequest(f"more than {MAX_PARAMS} parameters") from None
    elif "&" not in text:  # one parameter and nothing to decode: the usual body
        name, _, value = text.partition("=")
        return {name: value} if value else {}
    else:
        # Nothing to decode (``grant_type=client_credentials&scope=a``): what parse_qsl
        # does, without its per-pair decoding calls.
        if text.count("&") >= MAX_PARAMS:
            raise InvalidRequest(f"more than {MAX_PARAMS} parameters")
        pairs = [p.partition("=")[::2] for p in text.split("&") if p]
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise InvalidRequest(f"parameter {name} is repeated")
        params[name] = value
    if "" in params.values():
        return {k: v for k, v in params.items() if v != ""}
    return params


def is_form(content_type: str) -> bool:
    """Whether a ``Content-Type`` (parameters such as charset allowed) is a form body."""
    return content_type == FORM_TYPE or content_type.split(";", 1)[0].strip().lower() == FORM_TYPE
