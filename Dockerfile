# Consentry in a container: built with the Rust image's toolchain, run on a slim Debian
# base as a non-root user. The database is not inside: see compose.yaml.
FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmariadb-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock diesel.toml askama.toml ./
COPY src src
COPY migrations migrations
COPY templates templates
COPY static static
RUN cargo build --release --locked --bin consentry

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmariadb3 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/consentry --create-home --shell /usr/sbin/nologin consentry
COPY --from=build /src/target/release/consentry /usr/local/bin/consentry
ENV CONSENTRY_BIND=0.0.0.0:8080 \
    CONSENTRY_DATA_DIR=/var/lib/consentry
USER consentry
WORKDIR /var/lib/consentry
VOLUME /var/lib/consentry
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["/usr/local/bin/consentry"]
CMD ["serve"]
