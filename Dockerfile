# Berth container image: build with `docker build -t berth .`
# Run: docker run -p 5000:5000 -v berth-data:/var/lib/berth berth
# Node.js 24 LTS, the runtime Berth recommends (Node 20 still runs it: scripts/test.sh tests both); an exact
# version, so a rebuild gets the same runtime. Update both stages together.
FROM node:24.22.3-bookworm-slim AS build
WORKDIR /src
# better-sqlite3 and bcrypt compile native code when no prebuilt binary can be fetched.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# npm ci runs `prepare` (scripts/build.mjs --if-stale), which skips the build until the sources are here.
COPY scripts/build.mjs ./scripts/
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:24.22.3-bookworm-slim
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
RUN mkdir -p /var/lib/berth && chown 1000:1000 /var/lib/berth
# The image's `node` user by number, so Kubernetes' runAsNonRoot can verify it without a runAsUser.
# Nothing under /app is written: the image runs with a read-only root filesystem when /tmp and
# /var/lib/berth are writable (docs/deployment.md).
USER 1000:1000
ENV NODE_ENV=production \
    REGISTRY_HTTP_ADDR=:5000 \
    REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=/var/lib/berth
VOLUME /var/lib/berth
EXPOSE 5000
ENTRYPOINT ["node", "dist/main.js"]
CMD ["serve"]
