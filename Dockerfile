# The Gatekey image: one image, the `gatekey` command (operator and issuer alike).
#
#   docker build -t gatekey:0.1.0 .
#   docker run --rm gatekey:0.1.0 --help
#
# Needs BuildKit (Docker's default builder since 23.0; podman and buildah have it) for the
# RUN --mount below.
#
# Two stages: the first builds wheels for Gatekey and every dependency (all of them have
# manylinux wheels for CPython 3.11, so no compiler is needed); the second installs them
# without network access to the index and without the source tree or the build tools.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
# Only what the wheel is built from (pyproject.toml names README.md as the readme).
COPY pyproject.toml README.md ./
COPY operator/ operator/
COPY issuer/ issuer/
RUN pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
# Logs reach `kubectl logs` at once; no .pyc written next to the read-only code.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels gatekey \
    && groupadd --system --gid 10001 gatekey \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/gatekey --no-create-home gatekey \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/gatekey
# The state dir: the SQLite token store of `serve --kube` without Redis, and the generated
# keys of the embedded mode. The chart mounts an emptyDir here (the root filesystem is
# read-only there).
WORKDIR /var/lib/gatekey
# A numeric user, so that Kubernetes' runAsNonRoot can check it.
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["gatekey"]
CMD ["--help"]
