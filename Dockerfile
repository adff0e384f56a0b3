# syntax=docker/dockerfile:1
#
# The image: FROM scratch, holding only the static binary (/app/marketing),
# the CA certificates (outbound TLS), an empty /tmp (1777) and /data owned
# by the image's user (the SQLite default, ./data/marketing.db from /;
# production uses PostgreSQL). Time zone data is embedded in the binary
# (time/tzdata). No shell, no libc, no /etc/passwd: the user is numeric.
#
# Two ways to fill it, one final stage. The last stage copies everything
# from the stage `rootfs`, which is whichever stage ROOTFS names:
#
#   build    (default) compiles in golang:1.26: Fly's remote builder
#            (fly deploy, .github/workflows/deploy.yml) and any docker build.
#   context  takes the same tree from the build context, assembled on the
#            host by `make image` with the local Go toolchain: podman builds
#            it offline, with no base image to pull.
#
# Only the stage ROOTFS names is built (BuildKit, and podman/buildah with
# their default --skip-unused-stages): a docker build never reads a context
# for `context`, `make image` never pulls golang. (Buildah 1.28 resolves
# FROM ${ROOTFS} from --build-arg only: spell out ROOTFS=build there.)
# Both lay the tree out as
#   /out/root/   app/marketing, etc/ssl/certs/ca-certificates.crt, tmp/ (1777)
#   /out/data/   empty; owned by the image's user in the final stage
ARG ROOTFS=build

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/altcontext/marketing/internal/cli.Version=${VERSION}" \
      -o /out/root/app/marketing ./cmd/marketing \
 && mkdir -p /out/root/etc/ssl/certs /out/data \
 && chown 65532:65532 /out/data \
 && cp /etc/ssl/certs/ca-certificates.crt /out/root/etc/ssl/certs/ \
 && mkdir -m 1777 /out/root/tmp

# The context is bin/image/ (make image), not the repository root.
FROM scratch AS context
COPY root/ /out/root/
COPY data/ /out/data/

FROM ${ROOTFS} AS rootfs

# The image. migrate is Fly's release command (it replaces CMD and keeps
# ENTRYPOINT). 65532 is distroless's nonroot, the user the image had before.
FROM scratch
COPY --from=rootfs /out/root/ /
COPY --from=rootfs --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /
EXPOSE 3000 9091
ENTRYPOINT ["/app/marketing"]
CMD ["serve"]
