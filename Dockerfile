# syntax=docker/dockerfile:1
# Build stage: compile TypeScript with dev dependencies, then keep only production dependencies.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The isomorphic-webcrypto override points at this local stub (see stubs/isomorphic-webcrypto/package.json).
COPY stubs ./stubs
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
# Compiles the server and bundles the SMART app (esbuild) into dist/public/smart.
RUN npm run build && npm prune --omit=dev

# Runtime stage: no compiler, no dev dependencies, not root.
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    PORT=3000 \
    DATA_DIR=/app/data
WORKDIR /app
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/stubs ./stubs
COPY --from=build --chown=node:node /app/dist ./dist
COPY --chown=node:node package.json ./
# The policy is data: payers mount their own knowledge over these folders (see README "Adding a policy").
COPY --chown=node:node fhir-resources ./fhir-resources
COPY --chown=node:node cds-services ./cds-services
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node as PID 1 receives SIGTERM directly; the service drains in-flight requests before it exits.
# The old-generation bound keeps the heap (and RSS) from growing with the allocation rate under load: live data
# is ~20 MB, and 60 concurrent 5,000-order requests still fit (BENCHMARKS.md). Raise it with MAX_BODY_BYTES or
# MAX_BUFFERED_BYTES (64 MiB of bodies held at once by default: test/security/body-limits.test.ts runs under this bound).
# `npm run bench` starts the service with these same arguments.
CMD ["node", "--max-old-space-size=256", "dist/server.js"]
