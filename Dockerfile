# syntax=docker/dockerfile:1
# Multi-stage build for machines that can pull from a registry. The final stage (from the last
# FROM on) is also what scripts/image.sh builds with podman from a locally built binary, where no
# base image can be pulled: keep it FROM scratch and self-contained.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN scripts/image-rootfs.sh /out && mkdir /out/rootfs && tar -xpf /out/rootfs.tar -C /out/rootfs

FROM scratch
# The static binary (time-zone data linked in), the CA bundle for TLS to IRC, Matrix, S3, FASJSON
# and the broker, and the state volume owned by 65532:0 (see scripts/image-rootfs.sh).
COPY --from=build /out/rootfs/ /
USER 65532:0
WORKDIR /var/lib/nocbot
VOLUME ["/var/lib/nocbot"]
ENV HOME=/var/lib/nocbot \
    NOCBOT_BOT_STATE=/var/lib/nocbot/nocbot.db \
    NOCBOT_PUBLISHER_DIR=/var/lib/nocbot/public \
    NOCBOT_WEB_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/nocbot"]
CMD ["-config", "/etc/nocbot/nocbot.toml", "-log-format", "json"]
