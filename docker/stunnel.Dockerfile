# stunnel from Debian, the TLS client in front of dlockd's Redis connections in compose.redis-tls.yaml
# (Debian's hiredis 0.14 speaks no TLS; docs/redis-tls.md). It reads /etc/stunnel/dlockd.conf,
# which compose.redis-tls.yaml mounts from docker/stunnel-dlockd.conf.
#
#   docker build -f docker/stunnel.Dockerfile -t dlockd-stunnel:dev docker/
ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends stunnel4 ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log
USER stunnel4
STOPSIGNAL SIGTERM
CMD ["stunnel4", "/etc/stunnel/dlockd.conf"]
