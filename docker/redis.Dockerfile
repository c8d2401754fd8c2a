# Redis for the dlockd compose deployments, built from Debian's redis-server package so that it
# builds anywhere the dlockd image builds (no image registry needed). With a registry at hand,
# `image: redis:7` with the same command line does the same job.
#
#   docker build -f docker/redis.Dockerfile -t dlockd-redis:dev docker/
#
# AOF on (fsync every second), maxmemory-policy noeviction (dlockd warns about any other policy:
# an evicted key is a lost lock), data in the /data volume, reachable from the compose network only
# (compose.yaml publishes no Redis port). The compose files give this command line explicitly, so
# that they run the same with `image: redis:7`; compose.redlock.yaml uses `--appendfsync always`.
# What `everysec` means for locks: a crash can lose about the last second of grants, so such a lock
# can be granted a second time; fences never repeat (README.md, "What Redis persistence buys").
ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && install -d -o redis -g redis -m 0750 /data
# A named volume mounted here starts as a copy of this directory (owner redis).
VOLUME /data
WORKDIR /data
USER redis
EXPOSE 6379
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=10 \
    CMD ["sh", "-c", "redis-cli ping | grep -q PONG"]
STOPSIGNAL SIGTERM
CMD ["redis-server", "--appendonly", "yes", "--appendfsync", "everysec", \
     "--maxmemory-policy", "noeviction", "--dir", "/data", \
     "--bind", "0.0.0.0", "--protected-mode", "no"]
