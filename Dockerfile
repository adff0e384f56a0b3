# syntax=docker/dockerfile:1
# Build: a static binary (no cgo; SQLite is pure Go), version stamped.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/altcontext/marketing/internal/cli.Version=${VERSION}" \
      -o /out/marketing ./cmd/marketing

# Run: distroless static, non-root. migrate is Fly's release command
# (it replaces CMD and keeps ENTRYPOINT).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/marketing /app/marketing
USER nonroot:nonroot
EXPOSE 3000 9091
ENTRYPOINT ["/app/marketing"]
CMD ["serve"]
