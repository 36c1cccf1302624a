# The platform simulator (cmd/obsyk-platform-sim) for the kind end-to-end run (run.sh): a
# static binary on a distroless, non-root base, like the hub's image (../../Dockerfile).
# Build from the repository root: docker build -f e2e/kind/platform-sim.Dockerfile -t obsyk-platform-sim:kind-e2e .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/obsyk-platform-sim ./cmd/obsyk-platform-sim

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/obsyk-platform-sim /obsyk-platform-sim
USER 65532:65532
ENTRYPOINT ["/obsyk-platform-sim"]
