# The Gatekey image: one image, the `gatekey` command (operator and issuer alike).
#
#   docker build -t gatekey:0.1.0 .
#   docker run --rm gatekey:0.1.0 --help
#
# Two stages: the first installs Gatekey and every dependency into a virtual environment at
# /opt/gatekey (all of them have manylinux wheels for CPython 3.11, so no compiler is
# needed); the second copies that environment alone onto a Python without pip, the source
# tree or the build tools.
#
# PYTHON_IMAGE is the final stage's Python; BUILD_IMAGE (default: the same) must have the
# same Python at the same path, plus pip and venv. scripts/build-image.sh builds with two
# Debian bases made with mmdebstrap (no registry can be reached from the project's machines):
# the final one has no pip, no apt lists and no docs.

ARG PYTHON_IMAGE=python:3.11-slim
ARG BUILD_IMAGE=${PYTHON_IMAGE}

FROM ${BUILD_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
# Only what the package is built from (pyproject.toml names README.md as the readme).
COPY pyproject.toml README.md ./
COPY operator/ operator/
COPY issuer/ issuer/
# -I: ./operator would shadow the standard library's `operator` from the working directory.
# Then, to keep the image small (the kubernetes client alone is 128 MB installed):
# - kubernetes/aio, the asyncio client kubernetes 37 bundles: neither Gatekey nor kopf
#   imports it (68 MB);
# - test suites shipped inside dependencies;
# - debug symbols of the compiled extensions, when the build image has `strip` (uvloop's
#   loop.so: 13.6 MB, 1.6 MB stripped);
# - the generated kubernetes.client (api/ and models/: 33 MB of source) is kept as
#   bytecode only; every other module keeps its source, for readable tracebacks.
# compileall writes the .pyc files once here, for the read-only root of the final image.
RUN python3 -I -m venv --without-pip /opt/gatekey \
    && pip --python /opt/gatekey/bin/python install --no-compile . \
    && site=$(echo /opt/gatekey/lib/python3*/site-packages) \
    && rm -rf "$site/kubernetes/aio" \
    && find "$site" -depth -type d \( -name tests -o -name test -o -name __pycache__ \) \
        -exec rm -rf {} + \
    && if command -v strip >/dev/null; then \
        find "$site" -name '*.so*' -type f -exec strip --strip-unneeded {} + ; fi \
    && /opt/gatekey/bin/python -I -m compileall -q -b -j 0 "$site/kubernetes/client" \
    && find "$site/kubernetes/client" -name '*.py' -delete \
    && /opt/gatekey/bin/python -I -m compileall -q -j 0 "$site"

FROM ${PYTHON_IMAGE}
# Logs reach `kubectl logs` at once; no .pyc written next to the read-only code.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/gatekey/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
COPY --from=build /opt/gatekey /opt/gatekey
RUN groupadd --system --gid 10001 gatekey \
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
