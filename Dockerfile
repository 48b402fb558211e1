# shadowmesh: multi-stage build, request path compiled with mypyc, runs as non-root on a
# read-only root filesystem (deploy/kubernetes/base sets readOnlyRootFilesystem).
#   docker build -t shadowmesh:0.1.0 .
ARG PYTHON=python:3.11-slim-bookworm

FROM ${PYTHON} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/shadowmesh
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY src ./src
# The run-time dependencies first, then mypy (mypyc) to compile the request path: the
# compiler is only in this stage, the compiled extensions go to the final image.
RUN /opt/shadowmesh/bin/pip install . \
 && /opt/shadowmesh/bin/pip uninstall -y shadowmesh \
 && /opt/shadowmesh/bin/pip install "mypy>=1.10" "types-PyYAML>=6.0" "setuptools>=77" wheel \
 && SHADOWMESH_COMPILE=1 /opt/shadowmesh/bin/pip install --no-build-isolation --no-deps . \
 && /opt/shadowmesh/bin/pip uninstall -y mypy mypy-extensions types-PyYAML \
 && cd / && /opt/shadowmesh/bin/python -c "import sys; from shadowmesh import native as n; \
print(n.describe()); sys.exit(len(n.compiled_modules()) != len(n.REQUEST_PATH_MODULES))"

FROM ${PYTHON}
COPY --from=build /opt/shadowmesh /opt/shadowmesh
ENV PATH=/opt/shadowmesh/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# A numeric user, so Kubernetes can check runAsNonRoot without reading /etc/passwd.
USER 65532:65532
WORKDIR /tmp
EXPOSE 15001 15000
ENTRYPOINT ["shadowmesh"]
CMD ["run", "--kubernetes"]
