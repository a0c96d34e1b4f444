# syntax=docker/dockerfile:1
# iotsim container image: the CLI plus only the sink and server packages named by build arguments.
#
#   docker build --build-arg SINKS="kafka delta" --build-arg SERVERS="opcua" -t iotsim:0.1.0 .
#   docker run --rm iotsim:0.1.0 run -i mining -d 5
#   docker run --rm -v "$PWD/out:/data" iotsim:0.1.0 run -i mining -s file -d 5   # files in ./out/output
#   docker run --rm -v "$PWD/sim.yaml:/config/config.yaml:ro" iotsim:0.1.0 run -c /config/config.yaml
#
# SINKS / SERVERS take the YAML type names (`iotsim list-sinks`, `iotsim list-servers`; `all` for
# every one); console and the http server are in @iotsim/core and always there.
# Checked by scripts/k8s-check.sh (hadolint and the assembly script run outside Docker).

ARG NODE_IMAGE=node:24-slim

# --- build: install the workspace, build and pack the selected packages, npm-install them into /app
FROM ${NODE_IMAGE} AS build
# Compilers for the native modules some sinks use (better-sqlite3, zstd-napi, lz4); build stage
# only, so they are not pinned (DL3008) and never reach the runtime image.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
ENV npm_config_nodedir=/usr/local \
    CI=true
RUN npm install -g pnpm@12.4.2
WORKDIR /src
COPY . .
# Scripts are skipped here: tsc needs no native module; those the image needs build in assemble.sh.
RUN pnpm install --frozen-lockfile --ignore-scripts
ARG SINKS="kafka"
ARG SERVERS=""
RUN bash deploy/docker/assemble.sh /app "${SINKS}" "${SERVERS}" \
 && rm -rf /app/tarballs /root/.npm

# --- runtime: Node 24 slim, the assembled /app, a non-root user
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
COPY --from=build /app /app
# /app is root's and read-only to the process; relative sink paths (./output, sensor_data.db)
# land in /data, the working directory (mount a volume there).
RUN mkdir /data && chown 1000:1000 /data
WORKDIR /data
# The node image's own unprivileged user (uid 1000); numeric so Kubernetes can check runAsNonRoot.
USER 1000:1000
# core's http server (servers: [{type: http, host: 0.0.0.0, port: 9464}]): /metrics, /healthz, /state
EXPOSE 9464
ENTRYPOINT ["node", "/app/node_modules/@iotsim/cli/dist/bin.js"]
CMD ["--help"]
