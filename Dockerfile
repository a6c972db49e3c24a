# qos-probe: multi-stage, multi-architecture image (agent, collector, reflector roles).
#   docker buildx build --platform linux/amd64,linux/arm64,linux/arm/v7 -t qos-probe .
# amd64 for central hosts, arm64 for a Raspberry Pi 3/4/5 on a 64-bit OS, arm/v7 (armhf) for 32-bit
# Raspberry Pi OS. The only native code is koffi (the FFI for kernel timestamps and adjtimex), and its
# npm package ships prebuilt binaries for all three, so no stage compiles C.

# --- build: full dev dependencies, compile TypeScript to dist/ and bundle the agent into dist/bundle/ ---
# dist/ is plain JavaScript, the same on every platform: build once on the builder's own platform
# instead of under QEMU emulation for each target.
FROM --platform=$BUILDPLATFORM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY agent ./agent
COPY collector ./collector
COPY scripts ./scripts
RUN npm run build

# --- runtime: the target platform, production dependencies only -------------------------------------
FROM node:20-bookworm-slim
# iputils-ping: the ICMP prober runs the system ping binary (it keeps cap_net_raw as a file capability;
# Docker's default capability set keeps NET_RAW, or ICMP tests fail with "Operation not permitted").
RUN apt-get update \
 && apt-get install -y --no-install-recommends iputils-ping tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system qosprobe && useradd --system --gid qosprobe --home /var/lib/qos-probe qosprobe \
 && mkdir -p /var/lib/qos-probe /etc/qos-probe && chown qosprobe:qosprobe /var/lib/qos-probe
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# Runtime dependencies only, installed for this image's own platform. Optional dependencies are kept
# on purpose: koffi's per-platform binaries are what the kernel-timestamp socket loads.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist ./dist
COPY collector/store/migrations ./collector/store/migrations
COPY config ./config
USER qosprobe
VOLUME ["/var/lib/qos-probe"]
# STAMP reflector (UDP 862). A non-root user may bind it only when the container's network namespace
# says so: --sysctl net.ipv4.ip_unprivileged_port_start=862 (docker-compose.yml sets it). Adding
# NET_BIND_SERVICE is not enough: Docker grants capabilities to root, not to USER qosprobe.
EXPOSE 862/udp 8080/tcp
# Healthy while the agent's status file says it is running and connected (written every heartbeat).
HEALTHCHECK --interval=60s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "dist/bundle/cli.js", "health", "--data-dir", "/var/lib/qos-probe"]
# The agent's Node.js flags and its entry point, the minified bundle dist/bundle/cli.js (agent/node-flags.ts:
# a small V8 young generation, one V8 thread, bytecode interpreter only, no start-up snapshot; measured
# by `npm run bench:agent`). On the command line, not in NODE_OPTIONS:
# Node.js refuses --no-turbofan, --no-maglev and --no-sparkplug there. The collector service of
# docker-compose.yml sets an entrypoint without them (its ingest and report want the optimising compiler).
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--max-semi-space-size=1", "--v8-pool-size=1", "--no-turbofan", "--no-maglev", "--no-sparkplug", "--optimize-for-size", "--no-node-snapshot", "dist/bundle/cli.js"]
CMD ["agent", "--config", "/etc/qos-probe/agent.yaml"]
