# One image per service: docker build --build-arg SERVICE=intake -t ticketloop-intake .
FROM python:3.11-slim
ARG SERVICE
RUN test -n "$SERVICE" || (echo "--build-arg SERVICE=<intake|routing|sla|feedback|retrospective> is required" && false)
WORKDIR /app
COPY requirements.lock ./
COPY shared ./shared
COPY services/${SERVICE} ./services/${SERVICE}
RUN pip install --no-cache-dir -c requirements.lock './shared[otlp]' ./services/${SERVICE} \
    && groupadd --system --gid 10001 ticketloop \
    && useradd --system --uid 10001 --gid 10001 --no-create-home ticketloop
# Runs as uid/gid 10001 on a read-only root filesystem (Kubernetes mounts an emptyDir on /tmp):
# nothing is written beside the code.
ENV SERVICE=${SERVICE} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
EXPOSE 8000
CMD ["sh", "-c", "exec python -m ticketloop_${SERVICE}"]
