# syntax=docker/dockerfile:1
#
# Container image of proxy-quota-exporter.
#
#   docker build --build-arg PQE_GIT_REVISION="$(git rev-parse --short=12 HEAD)" \
#     -t proxy-quota-exporter .
#   docker run --rm -p 9877:9877 \
#     -v "$PWD/config.yml:/etc/proxy-quota-exporter/config.yml:ro" \
#     -v "$PWD/secrets:/run/secrets/proxy-quota-exporter:ro" \
#     proxy-quota-exporter
#
# Try it without an account: `docker run --rm -p 9877:9877 proxy-quota-exporter --demo`.
# The configuration is read from /etc/proxy-quota-exporter/config.yml; key files
# belong under /run/secrets (point `app_key_file` / `token_file` there). The
# exporter reloads its configuration on SIGHUP (`docker kill -s HUP ...`).
# Kubernetes manifests: deploy/kubernetes/.

# Official Rust image, latest stable 1.x (Cargo.toml asks for at least 1.89), on
# Debian 12 like the runtime image.
FROM rust:1-bookworm AS builder
WORKDIR /build

# Dependencies first: this layer is rebuilt only when Cargo.toml, Cargo.lock or
# the benchmarks change, not on every source edit. The stand-in sources are
# replaced below. benches/ is not compiled by `cargo build`, but Cargo.toml
# declares a [[bench]] target, and cargo refuses a manifest whose target files
# are missing.
COPY Cargo.toml Cargo.lock build.rs ./
COPY benches ./benches
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src

# The real sources. `touch` makes them newer than the stand-ins' build, whatever
# timestamps COPY gave them, so cargo rebuilds the crate itself.
COPY src ./src
# build.rs records this as the `revision` label of proxy_exporter_build_info
# (there is no .git in the build context, so it is "unknown" when not given).
ARG PQE_GIT_REVISION=""
ENV PQE_GIT_REVISION=${PQE_GIT_REVISION}
RUN find src build.rs -type f -exec touch {} + \
    && cargo build --release --locked \
    && install -D -m 0755 target/release/proxy-quota-exporter /out/proxy-quota-exporter

# glibc, libgcc and CA certificates; no shell. User and group 65532 ("nonroot").
FROM gcr.io/distroless/cc-debian12:nonroot
ARG PQE_GIT_REVISION=""
LABEL org.opencontainers.image.title="proxy-quota-exporter" \
      org.opencontainers.image.description="Prometheus exporter for proxy traffic quotas, sub-accounts, packages and static IPs (BestProxy, ProxyLite, IPWeb)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/proxy-quota-exporter/proxy-quota-exporter" \
      org.opencontainers.image.documentation="https://github.com/proxy-quota-exporter/proxy-quota-exporter/blob/main/README.md" \
      org.opencontainers.image.revision="${PQE_GIT_REVISION}" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"
COPY --from=builder /out/proxy-quota-exporter /proxy-quota-exporter
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 9877
ENTRYPOINT ["/proxy-quota-exporter"]
CMD ["--config.file=/etc/proxy-quota-exporter/config.yml"]
