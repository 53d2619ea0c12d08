# One image per service: docker build --build-arg SERVICE=intake -t ticketloop-intake .
FROM python:3.11-slim
ARG SERVICE
RUN test -n "$SERVICE" || (echo "--build-arg SERVICE=<intake|routing|sla|feedback|retrospective|workspace> is required" && false)
WORKDIR /app
COPY requirements.lock ./
COPY shared ./shared
COPY services/${SERVICE} ./services/${SERVICE}
# The SLA rules library (pure code sla and intake both run); small, so every image carries it.
COPY services/slarules ./services/slarules
# requirements.lock's hashes serve `make install` (--require-hashes); pip cannot check hashes while
# it builds the local packages, so the image takes the lock's versions as constraints without them.
RUN sed -e '/--hash=/d' -e 's/ \\$//' requirements.lock > constraints.txt \
    && pip install --no-cache-dir -c constraints.txt './shared[otlp]' ./services/slarules ./services/${SERVICE} \
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
