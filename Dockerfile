# A hub host: hubshift, a Prefect process worker, and (for the compose demo) two JupyterHub
# hubs that the worker upgrades. Production hub hosts use the same image or install
# hubshift with pip next to their hubs.
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm git \
    && npm install -g configurable-http-proxy@4 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/hubshift
COPY pyproject.toml README.md ./
COPY hubshift ./hubshift
COPY tasks ./tasks
COPY flows ./flows
COPY deployments ./deployments
COPY docker ./docker
RUN pip install --no-cache-dir -e .

ENV HUBSHIFT_HOME=/var/lib/hubshift \
    PREFECT_SERVER_ANALYTICS_ENABLED=false
EXPOSE 8000 8001
CMD ["python", "docker/hub_host.py"]
