# obsyk-hub: a static binary on a distroless, non-root base.
# Build: make docker-build IMG=registry.example.com/obsyk-hub:v0.1.0 (needs a Docker engine).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/obsyk-hub ./cmd/obsyk-hub

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/obsyk-hub /obsyk-hub
USER 65532:65532
ENTRYPOINT ["/obsyk-hub"]
CMD ["run"]
