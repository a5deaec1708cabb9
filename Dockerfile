# syntax=docker/dockerfile:1
# Build a static binary, then ship it alone on a minimal base as a non-root user.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/sqlvault .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sqlvault /usr/local/bin/sqlvault
# Catalog, vault and device certificates live here; mount a volume.
VOLUME /data
ENV SQLVAULT_DATA=/data SQLVAULT_ADDR=0.0.0.0:8080 SQLVAULT_DEVICE_ADDR=:8443
EXPOSE 8080 8443
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/sqlvault"]
CMD ["serve"]
