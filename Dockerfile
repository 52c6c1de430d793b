# syntax=docker/dockerfile:1
# Multi-stage build: a static binary on a distroless, non-root base.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/nocbot ./cmd/nocbot \
 && mkdir -p /out/state

FROM gcr.io/distroless/static-debian12:nonroot
# CA certificates come with the base image (TLS to IRC, Matrix, S3, FASJSON).
COPY --from=build /out/nocbot /usr/local/bin/nocbot
COPY config.example.toml /etc/nocbot/config.example.toml
# State (nocbot.db) and the local page live on a volume owned by the nonroot user
# (65532), so a fresh named volume is writable without running as root.
COPY --from=build --chown=65532:65532 /out/state /var/lib/nocbot
WORKDIR /var/lib/nocbot
VOLUME ["/var/lib/nocbot"]
USER nonroot:nonroot
ENV NOCBOT_BOT_STATE=/var/lib/nocbot/nocbot.db \
    NOCBOT_PUBLISHER_DIR=/var/lib/nocbot/public \
    NOCBOT_WEB_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/nocbot"]
CMD ["-config", "/etc/nocbot/nocbot.toml", "-log-format", "json"]
