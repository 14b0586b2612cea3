# The release artifacts on any host with a container engine (macOS, any Linux):
#   docker build --output=dist .      → ./dist/: both layer zips, both binaries, SHA256SUMS, the SPDX SBOM
# The steps are those test/fresh/run.sh runs in a pristine debootstrap root (it reads them from this file),
# which is how they are tested; no container engine has run this file yet (docs/building.md).
FROM debian:12 AS build
RUN apt-get update && apt-get install -y --no-install-recommends git make ca-certificates curl
WORKDIR /src
COPY . /src
RUN make dist

FROM scratch
COPY --from=build /src/build/dist/ /
