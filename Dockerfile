# qos-probe: multi-stage build. No native dependencies, so `docker buildx build --platform
# linux/amd64,linux/arm64 .` gives the same image for edge hosts and Raspberry Pi (64-bit OS).

# --- build: full dev dependencies, compile TypeScript to dist/ -----------------------------------
FROM node:20-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY agent ./agent
COPY collector ./collector
COPY scripts ./scripts
RUN npm run build

# --- production dependencies only ------------------------------------------------------------------
FROM node:20-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- runtime ---------------------------------------------------------------------------------------
FROM node:20-slim
# iputils-ping: the ICMP prober runs the system ping binary (it keeps cap_net_raw as a file capability;
# run the container with NET_RAW, Docker's default, or ICMP tests fail with "Operation not permitted").
RUN apt-get update \
 && apt-get install -y --no-install-recommends iputils-ping tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system qosprobe && useradd --system --gid qosprobe --home /var/lib/qos-probe qosprobe \
 && mkdir -p /var/lib/qos-probe /etc/qos-probe && chown qosprobe:qosprobe /var/lib/qos-probe
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY collector/store/migrations ./collector/store/migrations
COPY config ./config
USER qosprobe
VOLUME ["/var/lib/qos-probe"]
# STAMP reflector (UDP). Binding 862 as non-root needs: --cap-add NET_BIND_SERVICE plus
# --sysctl net.ipv4.ip_unprivileged_port_start=862, or map a high port: -p 862:8620/udp with --listen :8620.
EXPOSE 862/udp 8080/tcp
# Healthy while the agent's status file says it is running and connected (written every heartbeat).
HEALTHCHECK --interval=60s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "dist/agent/cli.js", "health", "--data-dir", "/var/lib/qos-probe"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "dist/agent/cli.js"]
CMD ["agent", "--config", "/etc/qos-probe/agent.yaml"]
