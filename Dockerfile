# syntax=docker/dockerfile:1
# A small non-root image of the exporter:
#   docker build --build-arg REVISION=$(git rev-parse --short=12 HEAD) -t iadvize-exporter .
# The password comes from a mounted file (--iadvize.password-file), never from an argument.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# build.rs reads the revision from git, which .dockerignore leaves out of the context.
ARG REVISION=unknown
ENV IADVIZE_EXPORTER_REVISION=${REVISION}
RUN cargo build --release --locked --bin iadvize-exporter

# glibc and libgcc only (TLS is rustls): distroless's "cc" image, as user nonroot (65532).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/iadvize-exporter /usr/local/bin/iadvize-exporter
USER 65532:65532
EXPOSE 9834
ENTRYPOINT ["/usr/local/bin/iadvize-exporter"]
