# adserver: a multi-stage build. The builder compiles the release binary;
# the runtime is a slim Debian with only the binary, the sample feed and a
# non-root user. Nothing is written at run time (logs go to stderr), so the
# root filesystem can be mounted read-only; point --snapshot at a volume.
#
#   docker build -t adserver .
#   docker run --rm -p 8080:8080 -p 9090:9090 --read-only adserver

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Manifests first, so the dependency build is cached across source edits.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY examples ./examples
RUN cargo build --release --locked --bin adserver

FROM debian:bookworm-slim
# ca-certificates: the feed is fetched over https by default.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates=20230311+deb12u1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin adserver
COPY --from=build /src/target/release/adserver /usr/local/bin/adserver
COPY data/ads.json /srv/adserver/ads.json
ENV ADSERVER_LISTEN=0.0.0.0:8080 \
    ADSERVER_ADMIN_LISTEN=0.0.0.0:9090 \
    ADSERVER_FEED=/srv/adserver/ads.json
EXPOSE 8080 9090
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/adserver"]
