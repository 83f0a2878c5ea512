# syntax=docker/dockerfile:1
# A small non-root image of the exporter:
#   docker build --build-arg REVISION=$(git rev-parse --short=12 HEAD) -t iadvize-exporter .
# The password comes from a mounted file (--iadvize.password-file), never from an argument.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# The image ships a stripped binary (about 13 MB instead of 83 MB with line tables); the
# same settings for both builds below, so the dependencies are not built twice.
ENV CARGO_PROFILE_RELEASE_DEBUG=false \
    CARGO_PROFILE_RELEASE_STRIP=symbols
# The dependencies first, in a layer of their own, built against stub sources: it is
# rebuilt only when Cargo.toml or Cargo.lock change, not on every source change.
COPY Cargo.toml Cargo.lock build.rs ./
RUN mkdir -p src benches \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && for bench in ingest window exposition load; do echo 'fn main() {}' > "benches/$bench.rs"; done \
    && cargo build --release --locked --bin iadvize-exporter \
    && rm -rf src benches
COPY . .
# build.rs reads the revision from git, which .dockerignore leaves out of the context.
ARG REVISION=unknown
ENV IADVIZE_EXPORTER_REVISION=${REVISION}
# cargo compares modification times: the real sources must look newer than the stubs.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin iadvize-exporter

# glibc and libgcc only (TLS is rustls): distroless's "cc" image, as user nonroot (65532).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/iadvize-exporter /usr/local/bin/iadvize-exporter
USER 65532:65532
EXPOSE 9834
ENTRYPOINT ["/usr/local/bin/iadvize-exporter"]
