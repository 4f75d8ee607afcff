# syntax=docker/dockerfile:1
# The ModelSync server: exactly the tested `modelsync serve`, over a repository mounted at /repo,
# as a non-root user on a slim base.
#
#   docker build -t modelsync .                                  # REST API + web UI
#   docker build --build-arg EXTRAS=server,torch -t modelsync .  # + checkpoint tensors/downloads
#   docker run --rm -p 127.0.0.1:8765:8765 -v "$PWD:/repo" --user "$(id -u):$(id -g)" \
#       -e MODELSYNC_TOKEN="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')" modelsync
#
# Inside the container the server binds 0.0.0.0 so the published port reaches it; its Host guard
# still accepts only localhost/127.0.0.1 (add `--allowed-host NAME` to serve another name).
# Without MODELSYNC_TOKEN a token is generated and printed once in the container's log.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY modelsync ./modelsync
COPY integrations ./integrations
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:${PYTHON_VERSION}-slim
ARG EXTRAS=server
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MODELSYNC_NO_PROGRESS=1
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir "$(ls /wheels/modelsync-*.whl)[${EXTRAS}]" \
    && rm -rf /wheels \
    && useradd --uid 10001 --create-home --shell /usr/sbin/nologin modelsync \
    && mkdir /repo \
    && chown modelsync:modelsync /repo
USER modelsync
WORKDIR /repo
VOLUME ["/repo"]
EXPOSE 8765
HEALTHCHECK --interval=30s --timeout=5s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8765/openapi.json', timeout=3)"]
ENTRYPOINT ["modelsync"]
CMD ["serve", "--repo", "/repo", "--host", "0.0.0.0", "--port", "8765"]
