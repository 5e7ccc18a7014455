# The operator image: `docker build -t kuberay-py:latest .`, then deploy it with config/default or the Helm chart.

# Build stage: install the package and its dependencies into a virtualenv that the final stage copies whole.
FROM python:3.11-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/kuberay-py
WORKDIR /src
COPY pyproject.toml README.md ./
COPY kuberay_py ./kuberay_py
# Bytecode is compiled here: the final image runs with a read-only root filesystem.
RUN /opt/kuberay-py/bin/pip install . \
    && /opt/kuberay-py/bin/python -m compileall -q /opt/kuberay-py

# Final stage: the same Python, the virtualenv, no build tools, and a non-root user.
FROM python:3.11-slim
ENV PATH=/opt/kuberay-py/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=builder /opt/kuberay-py /opt/kuberay-py
# 65532 is the conventional "nonroot" uid; config/manager and the Helm chart run as the same uid.
USER 65532:65532
ENTRYPOINT ["kuberay-py"]
CMD ["operator"]
