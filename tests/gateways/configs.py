"""The gateway configurations the tests run, and that docs/gateways.md shows.

Each template names its addresses with upper-case placeholders (``ISSUER_HOST``,
``ISSUER_PORT``, ``BACKEND_HOST``, ...), filled in by ``render``: the nginx and Envoy
syntaxes both use braces and ``$``, which rules out ``str.format`` and ``string.Template``.
``test_docs_show_the_tested_configs`` checks that the documentation holds these exact
texts, rendered with ``DOC_ADDRESSES``, so what the docs tell users to copy is what runs here.
"""

# Envoy's "@type" URLs are longer than a line and cannot be wrapped.
# ruff: noqa: E501

# What nginx needs to authenticate one API with Gatekey: an ``http {}``-level snippet.
NGINX_SITE = """\
# keepalive: idle connections kept open per worker. Without them each request opens
# a new connection to Gatekey and to the API, which costs more than the check itself.
upstream gatekey {
    server ISSUER_HOST:ISSUER_PORT;
    keepalive 64;
    # Below Gatekey's --header-timeout (15 s), which also closes idle connections:
    # nginx then never reuses a connection that Gatekey is closing.
    keepalive_timeout 10s;
}

upstream orders_api {
    server BACKEND_HOST:BACKEND_PORT;
    keepalive 64;
}

server {
    listen LISTEN_HOST:LISTEN_PORT;

    location / {
        # Every request is checked by Gatekey first; only a 2xx lets it through.
        # A 401 or 403 goes back to the client (a 401 with Gatekey's WWW-Authenticate).
        auth_request /_gatekey;

        # The identity Gatekey vouches for, handed to the API. proxy_set_header
        # replaces any header of the same name the client sent.
        auth_request_set $gatekey_user $upstream_http_x_authenticated_userid;
        auth_request_set $gatekey_roles $upstream_http_x_authenticated_userroles;
        auth_request_set $gatekey_client $upstream_http_x_authenticated_clientid;
        proxy_set_header X-Authenticated-UserId $gatekey_user;
        proxy_set_header X-Authenticated-UserRoles $gatekey_roles;
        proxy_set_header X-Authenticated-ClientId $gatekey_client;

        proxy_pass http://orders_api;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
    }

    location = /_gatekey {
        internal;
        proxy_pass http://gatekey/authz;
        # HTTP/1.1 without "Connection: close", for the upstream's keepalive.
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        # Gatekey reads headers only: never send it the body.
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        # The API this server protects. Set here, so a client cannot choose it.
        proxy_set_header X-Gatekey-Proxy orders;
        # The request being checked, for per-route rules (believed from a trusted peer:
        # start Gatekey with --trusted-proxies naming this nginx).
        proxy_set_header X-Original-URI $request_uri;
        proxy_set_header X-Original-Method $request_method;
        # The authority and scheme the client used: a DPoP proof names them (RFC 9449).
        proxy_set_header X-Forwarded-Host $http_host;
        proxy_set_header X-Forwarded-Proto $scheme;
    }
}
"""

# The test harness around NGINX_SITE: one foreground process (so that the fixture can stop
# it), every file under the prefix given with ``-p``, none of Debian's paths.
NGINX_MAIN = """\
daemon off;
master_process off;
worker_processes 1;
pid nginx.pid;
error_log error.log warn;

events {
    worker_connections 256;
}

http {
    access_log off;
    client_body_temp_path tmp/client_body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;

    include site.conf;
}
"""

# Envoy: a complete bootstrap (static resources, no admin listener).
ENVOY_BOOTSTRAP = """\
static_resources:
  listeners:
  - name: orders
    address:
      socket_address: {address: LISTEN_HOST, port_value: LISTEN_PORT}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: orders
          route_config:
            virtual_hosts:
            - name: orders
              domains: ["*"]
              routes:
              - match: {prefix: "/"}
                route: {cluster: orders_api}
          http_filters:
          - name: envoy.filters.http.ext_authz
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz
              # Gatekey unreachable or failing: deny (403), never let the request through.
              failure_mode_allow: false
              # The client headers sent to Gatekey (Host, Method and Path always are).
              allowed_headers:
                patterns:
                - {exact: authorization, ignore_case: true}
                - {exact: dpop, ignore_case: true}
              http_service:
                server_uri:
                  uri: http://ISSUER_HOST:ISSUER_PORT
                  cluster: gatekey
                  timeout: 2s
                # Envoy appends the client's path: /orders/7 is checked at /authz/orders/7.
                path_prefix: /authz
                authorization_request:
                  headers_to_add:
                  # The API this listener protects; overwrites a client's header of that name.
                  - {key: X-Gatekey-Proxy, value: orders}
                authorization_response:
                  # The identity Gatekey vouches for, handed to the API; each one
                  # replaces a header of the same name the client sent.
                  allowed_upstream_headers:
                    patterns:
                    - {exact: x-authenticated-userid, ignore_case: true}
                    - {exact: x-authenticated-userroles, ignore_case: true}
                    - {exact: x-authenticated-clientid, ignore_case: true}
                  # RFC 6750: a 401 tells the client why.
                  allowed_client_headers:
                    patterns:
                    - {exact: www-authenticate, ignore_case: true}
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: gatekey
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: gatekey
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: {address: ISSUER_HOST, port_value: ISSUER_PORT}
  - name: orders_api
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: orders_api
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: {address: BACKEND_HOST, port_value: BACKEND_PORT}
"""

# The addresses the documentation shows: Gatekey as a sidecar on localhost:8080, the API
# on localhost:9000, the gateway listening on 8000 for everyone.
DOC_ADDRESSES = {
    "ISSUER_HOST": "127.0.0.1",
    "ISSUER_PORT": "8080",
    "BACKEND_HOST": "127.0.0.1",
    "BACKEND_PORT": "9000",
    "LISTEN_HOST": "0.0.0.0",
    "LISTEN_PORT": "8000",
}


def render(template: str, **addresses: str | int) -> str:
    """The template with each placeholder replaced; every one must be given."""
    text = template
    # Longest first, so that a placeholder that is the prefix of another cannot clip it.
    for name in sorted(addresses, key=len, reverse=True):
        text = text.replace(name, str(addresses[name]))
    left = [name for name in DOC_ADDRESSES if name in text]
    assert not left, f"placeholders left unfilled: {left}"
    return text
