# Tiba API server image. Used by docker-compose.yml; also works alone:
#   docker build -t tiba . && docker run -p 8103:8103 -e DATABASE_URL=... -e REDIS_URL=... -e ADMIN_PASSWORD=... tiba
# (with the default ADMIN_PASSWORD the server listens on the container's 127.0.0.1 only, unless HOST is set).

# --- build: install everything, compile, then drop dev dependencies ---------------------------
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY packages/server/package.json packages/server/
COPY packages/app/package.json packages/app/
COPY bots/package.json bots/
COPY e2e/package.json e2e/
RUN npm ci --no-audit --no-fund
COPY tsconfig.base.json ./
COPY packages packages
RUN npm run build --workspace @tiba/server \
 && npm run build --workspace @tiba/app \
 && npm prune --omit=dev --no-audit --no-fund

# --- runtime: compiled server (with its migrations and bot runner), the built web app,
#     production dependencies, profiles. Deploy bots against it with `npm run deploy:bots`. -----
FROM node:24-slim
ENV NODE_ENV=production \
    PORT=8103 \
    FHIR_PROFILES_DIR=/app/fhir-profiles
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/packages/server packages/server
COPY --from=build /app/packages/app/dist packages/app/dist
COPY fhir-profiles fhir-profiles
USER node
EXPOSE 8103
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=5 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8103)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "packages/server/dist/main.js"]
