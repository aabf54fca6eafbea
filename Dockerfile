# Ebb's images with Docker: a static binary on distroless (no shell, no libc),
# running as the unprivileged user 65532. CMD picks the command: ebb-operator
# (default) or ebb-interceptor:
#   docker build --build-arg VERSION=v0.3.0 [--build-arg CMD=ebb-interceptor] -t <image>:v0.3.0 .
# The tested path is make image, which builds equivalent images without
# Docker, reproducibly, as OCI tars (docs/images.md).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
COPY apis apis
COPY controller controller
COPY metricsadapter metricsadapter
COPY scalers scalers
COPY cmd cmd
ARG VERSION=dev
ARG CMD=ebb-operator
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/app ./cmd/${CMD}

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/app /app
USER 65532:65532
ENTRYPOINT ["/app"]
