# One image recipe for every service: docker build --build-arg SERVICE=billing -t parley-billing .
#
# build:   the workspace's dependencies for that service; esbuild bundles it (with the kit and
#          the generated stubs compiled in) into services/<svc>/dist; `pnpm deploy --prod` lays the
#          service out alone with its production dependencies only (no tsx, TypeScript, tap or
#          embedded Postgres). `--legacy`: pnpm 10 deploys without it only from workspaces that
#          inject workspace packages, and a service has no workspace package at run time.
# runtime: that folder, owned by root (read-only to the service), run by plain node as the
#          unprivileged `node` user; nothing is written to disk, so the root filesystem may be
#          mounted read-only. `node dist/migrate.js` applies the service's migrations and exits.
#          The edge's image also holds the web console's static files (/app/console), built by Vite.
FROM node:20-bookworm-slim AS build
ENV PNPM_HOME=/pnpm PATH=/pnpm:$PATH CI=true
RUN corepack enable
WORKDIR /src
ARG SERVICE
COPY pnpm-lock.yaml pnpm-workspace.yaml package.json ./
COPY patches patches
COPY packages/proto/package.json packages/proto/
COPY packages/kit/package.json packages/kit/
COPY packages/testing/package.json packages/testing/
COPY services/${SERVICE}/package.json services/${SERVICE}/
COPY packages/console/package.json packages/console/
RUN pnpm install --frozen-lockfile --filter "@parley/${SERVICE}-service..." --filter parley \
    $([ "${SERVICE}" = edge ] && echo --filter @parley/console)
COPY scripts/build.mjs scripts/
COPY packages/proto packages/proto
COPY packages/kit packages/kit
COPY packages/console packages/console
COPY services/${SERVICE} services/${SERVICE}
# The edge also serves the web console: its static build goes beside dist/ (/app/console).
RUN node scripts/build.mjs ${SERVICE} \
  && pnpm deploy --legacy --prod --prefer-offline --filter "@parley/${SERVICE}-service" /out \
  && if [ "${SERVICE}" = edge ]; then node packages/console/build.mjs && cp -r packages/console/dist /out/console; fi

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /out /app
USER node
CMD ["node", "--enable-source-maps", "dist/main.js"]
